"""``GET /openapi.json``: an OpenAPI 3.1 description of every REST endpoint.

Written by hand, one module per route group (below); a test checks that every registered HTTP
route (other than the realtime WebSocket) appears here, and nothing else.

* :func:`spec` — the document (:mod:`~realtime.server.openapi.document` lists the paths).
* :func:`setup` — registers the route.
* The paths by area: :mod:`~realtime.server.openapi.batch` (Fluxions-compatible batch
  transcription), :mod:`~realtime.server.openapi.audio` (OpenAI-compatible audio),
  :mod:`~realtime.server.openapi.service` (metrics, health, client secrets, the demo, this
  document), :mod:`~realtime.server.openapi.webrtc` (WebRTC signalling); shared pieces in
  :mod:`~realtime.server.openapi.common`.
"""

from realtime.server.openapi.document import openapi_json, setup, spec

__all__ = ["openapi_json", "setup", "spec"]
