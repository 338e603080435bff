"""The sans-I/O realtime session (no asyncio, threads, sockets or clocks).

:class:`Session` takes client events, audio and engine/responder results and produces
server events and commands; the runner (:mod:`realtime.hosting.runner`) executes the
commands. One module per concern: input audio, turns, transcription, conversation,
responses (and the responder seam in :mod:`~realtime.session.replies`).
"""

from realtime.session.core import Capabilities, Session

__all__ = ["Capabilities", "Session"]
