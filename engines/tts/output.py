"""Speech in a wire format: resample an engine's stream and encode it for the client.

:func:`synthesize_to` wraps any :class:`~engines.base.TTSEngine`: each native-rate chunk goes
through one :class:`~engines.resampling.StreamResampler` (filter state carried across chunks,
so sentence edges leave no clicks) to the format's rate, is encoded with
:func:`~engines.resampling.encode_output`, and the resampler is flushed at the end so no tail
is lost. Formats: ``pcm16`` (24 kHz, 16-bit little-endian) and ``g711_ulaw`` /
``g711_alaw`` (8 kHz, one byte per sample), by beta or GA name.
"""

from __future__ import annotations

from collections.abc import Iterator

from engines.base import PCM, TTSEngine
from engines.resampling import StreamResampler, audio_format, encode_output


def synthesize_to(
    engine: TTSEngine,
    text: str,
    fmt: str,
    *,
    voice: str | None = None,
    speed: float = 1.0,
) -> Iterator[bytes]:
    """Synthesise ``text`` as payload bytes in the wire format ``fmt``, lazily.

    As lazy as the engine: nothing is synthesised before the first ``next()``, and each
    engine chunk is pulled only when the caller asks for more. Chunks that resample to
    nothing (soxr holds a few ms back) yield nothing; the held-back tail is yielded last. Closing this iterator closes the engine's, so synthesis stops between chunks.

    The output length is the engine's total samples converted to the format's rate (within
    a sample or two): ``2 * seconds * 24000`` bytes for pcm16, ``seconds * 8000`` for G.711.

    Args:
        engine: A loaded TTS engine.
        text: What to say, with optional inline tags.
        fmt: ``"pcm16"``, ``"g711_ulaw"``, ``"g711_alaw"`` or a GA name (``"audio/pcmu"``…).
        voice: Passed to the engine.
        speed: Passed to the engine.

    Returns:
        An iterator of non-empty payload chunks (before base64).

    Raises:
        ValueError: unknown format (before any audio).
        EngineError: the engine refuses the request (before any audio).
    """
    rate = audio_format(fmt).rate
    chunks = engine.synthesize(text, voice=voice, speed=speed)
    return _encode(chunks, StreamResampler(engine.sample_rate, rate), fmt)


def _encode(chunks: Iterator[PCM], resampler: StreamResampler, fmt: str) -> Iterator[bytes]:
    """Resample and encode each chunk, flush the tail, and close ``chunks`` however it ends."""
    try:
        for chunk in chunks:
            out = resampler.process(chunk)
            if len(out):
                yield encode_output(out, fmt)
        tail = resampler.flush()
        if len(tail):
            yield encode_output(tail, fmt)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
