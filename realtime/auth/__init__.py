"""Who may call the gateway: API keys, ephemeral client secrets, the auth middleware.

:mod:`~realtime.auth.keys` stores API keys, :mod:`~realtime.auth.client_secrets` the
short-lived secrets for browsers, :mod:`~realtime.auth.middleware` checks each request and
:mod:`~realtime.auth.routes` mints client secrets (``POST /v1/realtime/client_secrets``).
"""
