"""Transport adapters: each carries sessions of :mod:`realtime.hosting` to its clients.

:mod:`~realtime.transports.websocket` is the OpenAI Realtime WebSocket endpoint;
:mod:`~realtime.transports.webrtc` serves the same sessions over WebRTC calls.
"""
