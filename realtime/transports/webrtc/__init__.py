"""The realtime API over WebRTC, as OpenAI serves it: signalling over HTTP, media over RTP.

A client posts an SDP offer (:mod:`~realtime.transports.webrtc.signalling`), gets the
answer, and connects a peer connection whose first audio track is its microphone and whose
``oai-events`` data channel carries the realtime events; the assistant speaks on the
answer's audio track. Modules: :mod:`~.offer` (reading the signalling request),
:mod:`~.call` (one call: the peer connection as a session's channel), :mod:`~.tap` (the
session's events → track audio and data-channel events), :mod:`~.playout` and
:mod:`~.media` (the outgoing audio), :mod:`~.ice` (candidate gathering policy).
"""

from realtime.transports.webrtc.signalling import setup

__all__ = ["setup"]
