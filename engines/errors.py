"""Errors raised by engines and the model registry.

Tree::

    EngineError(retryable)        an engine could not do what was asked
    ├── ModelNotFound             a model's files are missing or corrupt (message names the fix)
    ├── AudioDecodeError          input audio could not be decoded
    │   └── AudioTooLong          decoded audio passed the length limit
    └── LLMError                  a language model could not complete a chat

Messages are safe to show to an operator on one line; they never carry tracebacks.
"""

from __future__ import annotations


class EngineError(Exception):
    """An engine failed.

    Attributes:
        retryable: True when the same call may succeed later (e.g. a transient device error).
    """

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class ModelNotFound(EngineError):
    """A model is not installed, not where settings point, or fails its integrity check."""


class AudioDecodeError(EngineError):
    """The input is not audio that can be decoded (corrupt, empty, or an unknown format)."""


class AudioTooLong(AudioDecodeError):
    """The recording decodes to more than the allowed length (decoding stopped there).

    Attributes:
        limit_s: The limit, in seconds.
    """

    def __init__(self, message: str, *, limit_s: float) -> None:
        super().__init__(message)
        self.limit_s = limit_s


class LLMError(EngineError):
    """A language model could not complete a chat: a bad request, or a runtime failure.

    The message is the runtime's own one-line reason (``"request (5000 tokens) exceeds the
    available context size (4096 tokens), try increasing it"``), safe to show a client.

    Attributes:
        error_type: OpenAI-style error type. ``"invalid_request_error"`` and
            ``"exceed_context_size_error"`` mean the request was at fault (resending it
            unchanged fails again); ``"server_error"`` means the runtime failed.
    """

    def __init__(
        self, message: str, *, error_type: str = "server_error", retryable: bool | None = None
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.error_type = error_type
