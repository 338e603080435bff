"""Streaming Whisper: append-only partial transcripts by LocalAgreement-2.

Whisper is not a streaming model, so each utterance is re-decoded as it grows, and only the
words on which two consecutive decodes agree are committed and emitted as deltas
(LocalAgreement-2, after Macháček et al., "Turning Whisper into Real-Time Transcription
System", 2023). Committed words are never revised.

Cost stays bounded in long utterances: once the decode window passes
:attr:`StreamingOptions.max_buffer_s`, it is trimmed at the end of the last committed
sentence (or, past :attr:`StreamingOptions.hard_max_buffer_s`, the last committed word), and
later decodes are prompted with the committed text instead.

``finalize()`` decodes the whole utterance once more, optionally with a more accurate model
(tiny.en partials, base final). The final text always *starts with* the emitted deltas: the
final model's words replace only what was not yet committed, aligned word by word when the
two models agree on the committed words and by time otherwise. Use the same model for
partials and finals when the final must be that model's text alone.

Every decode passes the hallucination guards in :mod:`engines.asr.guards`.

:attr:`ASROptions.verbatim <engines.base.ASROptions.verbatim>` applies to every decode,
partial and final alike, so that fillers the partials commit are the ones the final keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import numpy as np

from engines.asr.faster_whisper import FasterWhisperASR
from engines.asr.guards import (
    cut_repetition,
    is_stock_hallucination,
    normalise_word,
    segment_is_trustworthy,
)
from engines.asr.windowing import SHORT_WINDOW, EncoderWindow
from engines.audio import PCMBuffer, int16_to_float32
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASROptions,
    AudioChunk,
    DecodeOptions,
    EngineInfo,
    ProgressCallback,
    Transcript,
    TranscriptDelta,
    Word,
)

_SENTENCE_END = (".", "?", "!", "。", "？", "！")
_TIME_SLACK = 0.1  # seconds: word times from two decodes of one word differ by this much
_LOCK_LANGUAGE_AFTER_S = 2.0  # detection on less audio than this is unreliable
_LOCK_LANGUAGE_PROBABILITY = 0.7
_TOKENS_PER_SECOND = 8  # generous: speech runs at ~3 words (~4 tokens) per second
_SILENT_PEAK = 64  # int16 peak below which (-54 dBFS) audio is silence: nothing to decode


@dataclass(frozen=True, slots=True)
class StreamingOptions:
    """Knobs of the streaming adapter.

    Attributes:
        min_audio_s: No partial decode before the utterance holds this much audio.
        max_buffer_s: Trim the decode window at a committed sentence end beyond this.
        hard_max_buffer_s: Trim at the last committed word beyond this, sentence or not.
        prompt_chars: Committed text (its tail) used as the prompt after a trim.
        partial_beam_size: Beam width of partial decodes (1: greedy, fastest).
        final_beam_size: Beam width of the final decode.
        partial_window: Encoder window of partial decodes (:mod:`engines.asr.windowing`;
            None: Whisper's standard 30 s).
        final_window: Encoder window of the final decode (verbatim finals: always 30 s).
    """

    min_audio_s: float = 0.5
    max_buffer_s: float = 15.0
    hard_max_buffer_s: float = 25.0
    prompt_chars: int = 200
    partial_beam_size: int = 1
    final_beam_size: int = 5
    partial_window: EncoderWindow | None = SHORT_WINDOW
    final_window: EncoderWindow | None = SHORT_WINDOW


class StreamingWhisper:
    """An ASR engine with incremental partials, built from one or two Whisper models.

    Args:
        partial: Model for partial decodes (e.g. tiny.en).
        final: Model for ``finalize()`` and batch ``transcribe``; defaults to ``partial``.
        options: Streaming knobs.
    """

    def __init__(
        self,
        partial: FasterWhisperASR,
        final: FasterWhisperASR | None = None,
        options: StreamingOptions | None = None,
    ) -> None:
        self.partial_model = partial
        self.final_model = final or partial
        self.options = options or StreamingOptions()
        names = {partial.info.model, self.final_model.info.model}
        self.info = EngineInfo("faster-whisper", "+".join(sorted(names)))

    def open_stream(self, options: ASROptions) -> WhisperStream:
        """Open a per-session stream (cheap: no model is loaded)."""
        return WhisperStream(self, options)

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Batch transcription with the final model (:class:`~engines.base.BatchASR`)."""
        return self.final_model.transcribe(audio, options, decode=decode, on_progress=on_progress)


class WhisperStream:
    """One utterance at a time; see the module docstring for the algorithm.

    Thread-confined: call from one thread at a time (every method may block for a decode).
    Contract: ``"".join(delta.text for every delta since the utterance began)`` is a prefix
    of the text ``finalize()`` returns for that utterance.
    """

    def __init__(self, engine: StreamingWhisper, options: ASROptions) -> None:
        self._engine = engine
        self._options = options
        english_only_partials = not engine.partial_model.multilingual
        wants_other = options.language not in (None, "en")
        # An English-only partial model cannot follow another language: use the final one.
        self._partial_model = (
            engine.final_model if english_only_partials and wants_other else engine.partial_model
        )
        self._audio = PCMBuffer()
        self.reset()

    # --- ASRStream ----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop the current utterance and everything decoded from it."""
        self._audio.clear()
        self._start: int | None = None  # session sample of the utterance's first sample
        self._offset = 0  # samples trimmed off the front of the decode window
        self._decoded_upto = 0  # buffer length at the last partial decode
        self._committed: list[Word] = []
        self._committed_text = ""
        self._pending: list[Word] = []  # last hypothesis beyond the committed words
        self._language: str | None = self._options.language
        self._speculation: tuple[int, tuple[list[Any], str]] | None = None

    def feed(self, chunk: AudioChunk) -> None:
        """Append utterance audio; chunks must be contiguous on the session timeline.

        Raises:
            ValueError: ``chunk`` does not start where the previous one ended.
        """
        if self._start is None:
            self._start = chunk.start
        elif chunk.start != self._start + len(self._audio):
            expected = self._start + len(self._audio)
            raise ValueError(f"chunk starts at sample {chunk.start}, expected {expected}")
        self._audio.append(chunk.samples)

    def partial(self) -> list[TranscriptDelta]:
        """Decode the utterance so far; return newly agreed text (possibly nothing).

        Does no work when no audio arrived since the last call, or while the utterance is
        shorter than ``min_audio_s``.
        """
        size = len(self._audio)
        opts = self._engine.options
        if size == self._decoded_upto or size < opts.min_audio_s * SAMPLE_RATE:
            return []
        self._decoded_upto = size
        if _is_silent(self._audio.view(self._offset)):
            return []
        hypothesis = self._decode_window(self._partial_model, opts.partial_beam_size)
        agreed = _common_prefix(self._pending, hypothesis)
        self._pending = hypothesis[len(agreed) :]
        delta = self._commit(agreed)
        self._maybe_trim()
        return [TranscriptDelta(delta)] if delta else []

    def speculate(self, token: int) -> None:
        """Decode the utterance so far as its final would, ahead of time (a speculative final).

        Called when the speaker paused (a VAD PAUSE): if the utterance then ends with no more
        speech, ``finalize(speculation=token)`` uses this decode instead of starting one, so
        the final arrives about a silence duration sooner. A later call replaces it.
        """
        if _is_silent(self._audio.view()):
            self._speculation = None
            return
        self._speculation = (token, self._final_decode())

    def finalize(self, speculation: int | None = None) -> Transcript:
        """End the utterance: the final transcript; the stream is reset for the next one.

        Args:
            speculation: The token of a :meth:`speculate` call whose decode is still valid
                (the caller knows no speech came after it); its decode is used when it is
                the stored one. None: decode now.
        """
        start_s = (self._start or 0) / SAMPLE_RATE
        end_s = start_s + len(self._audio) / SAMPLE_RATE
        if _is_silent(self._audio.view()):  # nothing was heard, so nothing was committed
            language = self._language
            self.reset()
            return Transcript("", language, start_s, end_s)
        stored = self._speculation
        if speculation is not None and stored is not None and stored[0] == speculation:
            segments, language = stored[1]
        else:
            segments, language = self._final_decode()
        final_words = _trusted_words(segments, start_s)
        if not self._committed:
            text = "".join(w.text for w in final_words).strip()
            if is_stock_hallucination(text) and _looks_like_non_speech(segments):
                final_words, text = [], ""
            words = final_words
        else:
            rest = _after_committed(self._committed, final_words)
            text = self._committed_text + "".join(w.text for w in rest).rstrip()
            words = [*self._committed, *rest]
        transcript = Transcript(
            text=text,
            language=self._language or language,
            start=start_s,
            end=end_s,
            words=tuple(words),
        )
        self.reset()
        return transcript

    # --- internals ------------------------------------------------------------------------

    def _final_decode(self) -> tuple[list[Any], str]:
        """The final model's decode of the whole utterance: segments and language."""
        segments, language, _ = self._engine.final_model.decode(
            int16_to_float32(self._audio.view()),
            language=self._language,
            prompt=self._options.prompt,
            beam_size=self._engine.options.final_beam_size,
            greedy_only=False,
            verbatim=self._options.verbatim,
            # verbatim (non-speech tags asked for): laughter and fillers loop or drop words
            # in a short window (mfa_laughter lost "a liner"), so the final keeps 30 s
            window=None if self._options.verbatim else self._engine.options.final_window,
        )
        return segments, language

    def _decode_window(self, model: FasterWhisperASR, beam_size: int) -> list[Word]:
        """Decode the window and return the hypothesis beyond the committed words."""
        window = self._audio.view(self._offset)
        window_s = len(window) / SAMPLE_RATE
        segments, language, probability = model.decode(
            int16_to_float32(window),
            language=self._language,
            prompt=self._prompt(),
            beam_size=beam_size,
            greedy_only=True,
            max_new_tokens=min(220, 10 + int(window_s * _TOKENS_PER_SECOND)),
            verbatim=self._options.verbatim,
            window=self._engine.options.partial_window,
        )
        base = ((self._start or 0) + self._offset) / SAMPLE_RATE
        words = _trusted_words(segments, base)
        if (
            self._language is None
            and words
            and window_s >= _LOCK_LANGUAGE_AFTER_S
            and probability >= _LOCK_LANGUAGE_PROBABILITY
        ):
            self._language = language  # one language for the rest of the utterance
        return _beyond(self._committed, words)

    def _prompt(self) -> str | None:
        if self._offset and self._committed_text:
            return self._committed_text[-self._engine.options.prompt_chars :]
        return self._options.prompt

    def _commit(self, words: list[Word]) -> str:
        if not words:
            return ""
        text = "".join(w.text for w in words)
        if not self._committed_text:
            text = text.lstrip()
        self._committed.extend(words)
        self._committed_text += text
        return text

    def _maybe_trim(self) -> None:
        opts = self._engine.options
        window_s = (len(self._audio) - self._offset) / SAMPLE_RATE
        if window_s <= opts.max_buffer_s or not self._committed:
            return
        cut: Word | None = next(
            (w for w in reversed(self._committed) if w.text.rstrip().endswith(_SENTENCE_END)),
            None,
        )
        if cut is None and window_s > opts.hard_max_buffer_s:
            cut = self._committed[-1]
        if cut is None:
            return
        new_offset = round(cut.end * SAMPLE_RATE) - (self._start or 0)
        if new_offset > self._offset:
            self._offset = min(new_offset, len(self._audio))
            cut_s = cut.end
            self._pending = [w for w in self._pending if w.start >= cut_s - _TIME_SLACK]


def _is_silent(audio: PCM) -> bool:
    return len(audio) == 0 or int(np.abs(audio).max()) < _SILENT_PEAK


def _trusted_words(segments: list[Any], base_s: float) -> list[Word]:
    """Words of the trustworthy segments, on the session timeline, loops cut."""
    words = [
        Word(w.word, base_s + float(w.start), base_s + float(w.end), float(w.probability))
        for segment in segments
        if segment_is_trustworthy(segment)
        for w in (segment.words or ())
        if w.word.strip()
    ]
    return cut_repetition(words)


def _looks_like_non_speech(segments: list[Any]) -> bool:
    return not segments or max(s.no_speech_prob for s in segments) > 0.3


def _beyond(committed: list[Word], words: list[Word]) -> list[Word]:
    """The part of a fresh hypothesis that follows the committed words.

    Keeps words that start after the last committed word ends (with slack), then drops a
    leading run (up to 5 words) that repeats the committed tail.
    """
    if not committed:
        return words
    last_end = committed[-1].end
    fresh = [w for w in words if w.start >= last_end - _TIME_SLACK]
    for n in range(min(5, len(committed), len(fresh)), 0, -1):
        tail = [normalise_word(w.text) for w in committed[-n:]]
        if [normalise_word(w.text) for w in fresh[:n]] == tail:
            return fresh[n:]
    return fresh


def _common_prefix(a: list[Word], b: list[Word]) -> list[Word]:
    """The longest common prefix of two hypotheses, compared as normalised words, as in ``b``."""
    n = 0
    while n < len(a) and n < len(b) and normalise_word(a[n].text) == normalise_word(b[n].text):
        n += 1
    return b[:n]


def _after_committed(committed: list[Word], final: list[Word]) -> list[Word]:
    """The final decode's words that come after the committed ones.

    The two word sequences are aligned (difflib, on normalised words); the rest starts after
    the final word matched to the last matched committed word, skipping as many words as
    committed words trail unmatched. Without any match, fall back to time: words whose
    midpoint lies after the last committed word.
    """
    a = [normalise_word(w.text) for w in committed]
    b = [normalise_word(w.text) for w in final]
    blocks = [m for m in SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks() if m.size]
    if blocks:
        last = blocks[-1]
        unmatched_tail = len(a) - (last.a + last.size)
        return final[last.b + last.size + unmatched_tail :]
    last_end = committed[-1].end
    return [w for w in final if (w.start + w.end) / 2 > last_end]
