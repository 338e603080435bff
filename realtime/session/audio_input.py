"""The session's input audio: decode, resample to the internal rate, and keep recent audio.

Time is the sample index of the session's input at :data:`~engines.base.SAMPLE_RATE` since
the session began (the session timeline).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from engines.audio import PCMBuffer
from engines.base import PCM, SAMPLE_RATE, AudioChunk
from engines.resampling import StreamResampler, decode_input, native_rate
from protocol import ErrorCode, InvalidEvent

MAX_APPEND_BYTES = 15 * 1024 * 1024
"""Largest decoded ``input_audio_buffer.append`` payload (OpenAI's limit)."""


def decode_append(audio: str, fmt: str) -> tuple[PCM, int]:
    """Decode the base64 payload of ``input_audio_buffer.append`` in the session's format.

    Returns:
        The samples (mono int16) and their rate.

    Raises:
        InvalidEvent: not base64, too large, or not valid audio in ``fmt``.
    """
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent(
            "Invalid 'audio': not valid base64.", code=ErrorCode.INVALID_VALUE, param="audio"
        ) from None
    if len(data) > MAX_APPEND_BYTES:
        raise InvalidEvent(
            f"Audio chunk of {len(data)} bytes exceeds the maximum of {MAX_APPEND_BYTES}.",
            code=ErrorCode.INVALID_VALUE,
            param="audio",
        )
    try:
        return decode_input(data, fmt), native_rate(fmt)
    except ValueError as exc:
        raise InvalidEvent(
            f"Invalid 'audio': {exc}", code=ErrorCode.INVALID_VALUE, param="audio"
        ) from None


class InputTimeline:
    """Input audio on the session timeline, resampled once, with recent audio kept.

    Audio before :meth:`trim`'s point is forgotten; :meth:`audio` clips to what is held.
    """

    def __init__(self) -> None:
        self.end = 0
        """One past the last sample received (the timeline's length)."""
        self._held = PCMBuffer()
        self._held_start = 0  # timeline sample of self._held[0]
        self._resampler: StreamResampler | None = None
        self._rate = 0

    @property
    def held_from(self) -> int:
        """The first sample still held."""
        return self._held_start

    def receive(self, pcm: PCM, rate: int) -> AudioChunk | None:
        """Add audio at ``rate`` Hz; return it at SAMPLE_RATE on the timeline (None: empty).

        A change of ``rate`` starts a new resampler (the old one's held-back tail is lost).
        """
        if self._resampler is None or rate != self._rate:
            self._resampler, self._rate = StreamResampler(rate, SAMPLE_RATE), rate
        samples = self._resampler.process(np.asarray(pcm, dtype=np.int16))
        if len(samples) == 0:
            return None
        chunk = AudioChunk(samples, self.end)
        self._held.append(samples)
        self.end = chunk.end
        return chunk

    def reset_resampler(self) -> None:
        """Start the next audio with a fresh resampler (the input format changed)."""
        self._resampler = None

    def audio(self, start: int, end: int) -> AudioChunk:
        """Input audio ``[start, end)`` on the timeline, clipped to what is still held."""
        start = max(start, self._held_start)
        end = min(end, self.end)
        samples = self._held.view(start - self._held_start, max(start, end) - self._held_start)
        return AudioChunk(samples.copy(), start)

    def trim(self, keep_from: int) -> None:
        """Forget audio before ``keep_from`` (amortised: only once a second or more is due)."""
        drop = keep_from - self._held_start
        if drop > len(self._held) // 2 and drop > SAMPLE_RATE:
            kept = self._held.view(drop).copy()
            self._held.clear()
            self._held.append(kept)
            self._held_start += drop
