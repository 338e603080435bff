"""The server's plumbing.

The aiohttp application and its lifespan (:mod:`~realtime.server.app`), settings, errors,
logs, metrics, CORS, rate limits, the browser demo's routes, the OpenAPI document and the
``--workers`` supervisor.
"""
