"""Audio files from streamed speech: wav, raw pcm, mp3, flac, opus (Ogg) and aac (ADTS).

:class:`FileEncoder` turns mono int16 PCM, fed chunk by chunk as an engine renders it, into
the bytes of an audio file, returning what is ready after each chunk, so a response can
start before the speech is finished. Resampling carries its filter state across chunks
(:class:`~engines.resampling.StreamResampler`); the codecs are FFmpeg's, through PyAV,
writing to a sink that is never seeked:

* ``wav`` starts with a header whose sizes say "unknown" (``0xFFFFFFFF``), as streamed
  WAV does; :func:`encode_file` writes the exact sizes when the whole file is at hand.
* ``mp3`` carries no Xing/LAME header (it would need a seek back), so decoders keep the
  encoder's priming delay (about 70 ms at 24 kHz).
* ``opus`` pages are flushed every 100 ms of audio rather than Ogg's default second.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.base import PCM
from engines.resampling import StreamResampler

SPEECH_RATE = 24_000
"""Sample rate of pcm, wav, mp3, flac and aac speech (OpenAI's)."""


@dataclass(frozen=True, slots=True)
class FileFormat:
    """How one format is written.

    Attributes:
        container: FFmpeg muxer (None: written here, wav and pcm).
        codec: FFmpeg encoder (None for wav and pcm).
        rate: Sample rate of the file.
        content_type: Its media type.
        options: Muxer options.
    """

    container: str | None
    codec: str | None
    rate: int
    content_type: str
    options: tuple[tuple[str, str], ...] = ()


FILE_FORMATS: dict[str, FileFormat] = {
    "pcm": FileFormat(None, None, SPEECH_RATE, "audio/pcm"),
    "wav": FileFormat(None, None, SPEECH_RATE, "audio/wav"),
    "mp3": FileFormat("mp3", "libmp3lame", SPEECH_RATE, "audio/mpeg"),
    "flac": FileFormat("flac", "flac", SPEECH_RATE, "audio/flac"),
    "opus": FileFormat("ogg", "libopus", 48_000, "audio/ogg", (("page_duration", "100000"),)),
    "aac": FileFormat("adts", "aac", SPEECH_RATE, "audio/aac"),
}

_UNKNOWN = 0xFFFFFFFF
_WAV_HEADER_BYTES = 44


def wav_header(rate: int, data_bytes: int = _UNKNOWN) -> bytes:
    """A 44-byte mono 16-bit PCM WAV header; sizes ``0xFFFFFFFF`` when the length is unknown."""
    riff = _UNKNOWN if data_bytes == _UNKNOWN else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class _Sink:
    """A write-only file for PyAV: no ``seek``, so muxers never go back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        """What was written since the last call."""
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class FileEncoder:
    """Encode a stream of mono int16 PCM as one audio file, a chunk at a time.

    Not thread-safe: one caller feeds it in order (it may switch threads between calls).

    Args:
        fmt: A key of :data:`FILE_FORMATS`.
        rate: Sample rate of the PCM that will be fed.

    Raises:
        ValueError: unknown format.
    """

    def __init__(self, fmt: str, rate: int) -> None:
        if fmt not in FILE_FORMATS:
            raise ValueError(f"unknown audio file format {fmt!r}")
        self.format = FILE_FORMATS[fmt]
        self.fmt = fmt
        self._resampler = StreamResampler(rate, self.format.rate)
        self._started = False
        self._finished = False
        self._pts = 0
        self._container: Any = None
        self._stream: Any = None
        self._sink = _Sink()
        if self.format.container is not None:
            import av

            self._container = av.open(
                self._sink,
                mode="w",
                format=self.format.container,
                options=dict(self.format.options),
                buffer_size=1024,  # hand bytes over soon after each chunk
            )
            self._stream = self._container.add_stream(self.format.codec, rate=self.format.rate)
            self._stream.layout = "mono"

    @property
    def content_type(self) -> str:
        """The file's media type."""
        return self.format.content_type

    def feed(self, pcm: PCM) -> bytes:
        """Encode one chunk; returns the file bytes ready so far (maybe none)."""
        return self._header() + self._encode(self._resampler.process(pcm))

    def finish(self) -> bytes:
        """Flush everything held back and end the file; returns the last bytes."""
        if self._finished:
            return b""
        out = self._header() + self._encode(self._resampler.flush())
        self._finished = True
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            out += self._sink.take()
        return out

    def close(self) -> None:
        """Release the codec without finishing the file (after a failure or a hang-up)."""
        if not self._finished and self._container is not None:
            self._finished = True
            self._container.close()

    def _header(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return wav_header(self.format.rate) if self.fmt == "wav" else b""

    def _encode(self, samples: PCM) -> bytes:
        if not len(samples):
            return b""
        if self._container is None:
            return samples.astype("<i2").tobytes()
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1),
            format="s16",
            layout="mono",
        )
        frame.sample_rate = self.format.rate
        frame.pts = self._pts
        self._pts += len(samples)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()


def encode_file(pcm: PCM, rate: int, fmt: str) -> bytes:
    """The whole file for ``pcm`` (mono int16 at ``rate``); wav with its exact sizes.

    Raises:
        ValueError: unknown format.
    """
    encoder = FileEncoder(fmt, rate)
    data = encoder.feed(pcm) + encoder.finish()
    if fmt == "wav":
        body = data[_WAV_HEADER_BYTES:]
        data = wav_header(encoder.format.rate, len(body)) + body
    return data
