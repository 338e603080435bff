"""Streaming Whisper: append-only partials by LocalAgreement-2, best-decode finals.

Each utterance is re-decoded as it grows; only words on which two consecutive decodes agree
are committed and emitted as deltas (LocalAgreement-2, Macháček et al., 2023), never revised.
Past :attr:`StreamingOptions.max_buffer_s` the decode window is trimmed at the last committed
sentence end (past ``hard_max_buffer_s``, the last committed word) and later decodes are
prompted with the committed text.

``finalize()`` decodes the whole utterance with the final model and returns that decode's
transcript, which may differ from what the deltas said (they are interim text).

A stream carries context from one utterance to the next (``reset()`` drops the current one
only): an utterance shorter than ``short_turn_s`` is decoded with the end of the previous
one's audio before it (words before its start dropped); the previous finals' tail may
prompt every decode (``context_chars``, off by default). Every decode passes the guards in
:mod:`engines.asr.guards` and loses trailing words guessed or written into silence.
:attr:`ASROptions.verbatim <engines.base.ASROptions.verbatim>` applies to every decode.

Why these choices and values: docs/decisions/live-finals.md
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.asr.faster_whisper import Decoding, FasterWhisperASR
from engines.asr.guards import (
    cut_repetition,
    echoes_prompt,
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
    TokenLogprob,
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
_NO_TOKENS: tuple[TokenLogprob, ...] = ()
_UNSURE_WORD = 0.4  # word probability below which a trailing word in quiet audio is dropped
_GUESSED_WORD = 0.15  # … below which a trailing word is dropped wherever it lies
_QUIET_DB = -20.0  # a word's level this far below the utterance's loud frames is quiet
_FRAME = SAMPLE_RATE // 50  # 20 ms frames for levels
_LEFT_LEAD_S = 0.1  # left context starts this long before its first word (when free)


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
        context_chars: Previous finals (their tail) that prompt the next utterance's decodes
            (0: none).
        short_turn_s: Utterances shorter than this are decoded with left audio context.
        left_context_s: How much of the previous utterance's audio that context holds
            (0: none).
    """

    min_audio_s: float = 0.5
    max_buffer_s: float = 15.0
    hard_max_buffer_s: float = 25.0
    prompt_chars: int = 200
    partial_beam_size: int = 1
    final_beam_size: int = 5
    partial_window: EncoderWindow | None = SHORT_WINDOW
    final_window: EncoderWindow | None = SHORT_WINDOW
    context_chars: int = 0
    short_turn_s: float = 2.0
    left_context_s: float = 3.0


class StreamingWhisper:
    """An ASR engine with incremental partials, built from one or two Whisper models.

    Args:
        partial: Model for partial decodes (e.g. tiny.en).
        final: Model for ``finalize()`` and batch ``transcribe``; defaults to ``partial``.
        options: Streaming knobs.
    """

    gives_logprobs = True
    """Finals carry per-token log-probabilities (:attr:`Transcript.logprobs`)."""

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

    @property
    def translates(self) -> bool:
        """Whether batch ``transcribe`` can translate (:attr:`ASROptions.translate`).

        True when the final model is multilingual.
        """
        return self.final_model.multilingual

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


@dataclass(frozen=True, slots=True)
class _Heard:
    """A decoded word on the session timeline, with its tokens (final decodes only)."""

    word: Word
    tokens: tuple[TokenLogprob, ...] = _NO_TOKENS

    @property
    def text(self) -> str:
        return self.word.text


@dataclass(frozen=True, slots=True)
class _FinalDecode:
    """The final model's reading of an utterance: its words, and whether it is speech."""

    heard: list[_Heard]
    language: str
    non_speech: bool
    logprobs_known: bool


class WhisperStream:
    """One utterance at a time, with the previous ones as context; see the module docstring.

    Thread-confined: call from one thread at a time (every method may block for a decode).
    Contract: deltas are append-only (never revised); ``finalize()`` returns the final
    model's own transcript of the utterance.
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
        self._history = ""  # tail of the previous utterances' finals
        self._left: PCM = np.zeros(0, np.int16)  # end of the previous utterance's audio
        self._left_end = 0  # session sample where ``_left`` ends
        self.reset()

    # --- ASRStream ----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop the current utterance and everything decoded from it (context stays)."""
        self._audio.clear()
        self._start: int | None = None  # session sample of the utterance's first sample
        self._offset = 0  # samples trimmed off the front of the decode window
        self._decoded_upto = 0  # buffer length at the last partial decode
        self._committed: list[Word] = []
        self._committed_text = ""
        self._pending: list[Word] = []  # last hypothesis beyond the committed words
        self._language: str | None = self._options.language
        self._speculation: tuple[int, _FinalDecode] | None = None

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

    def speculate(self, token: int) -> str | None:
        """Decode the utterance so far as its final would, ahead of time (a speculative final).

        Called when the speaker paused (a VAD PAUSE): if the utterance then ends with no more
        speech, ``finalize(speculation=token)`` uses this decode instead of starting one, so
        the final arrives about a silence duration sooner. A later call replaces it.

        Returns:
            The text that final would have (None: silence, nothing to say).
        """
        if _is_silent(self._audio.view()):
            self._speculation = None
            return None
        decoded = self._final_decode()
        self._speculation = (token, decoded)
        return self._text_of(decoded)[1]

    def guess(self) -> str | None:
        """A quick guess at the utterance so far: the partial model's decode of all of it.

        Much cheaper than :meth:`speculate` (the partial model, greedy) and less accurate;
        changes nothing (no words are committed, no decode is stored).

        Returns:
            The guessed text (None: silence, or nothing heard).
        """
        if _is_silent(self._audio.view()):
            return None
        hypothesis = self._decode_window(
            self._partial_model, self._engine.options.partial_beam_size
        )
        text = (self._committed_text + "".join(w.text for w in hypothesis)).strip()
        return text or None

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
            return Transcript("", language, start_s, end_s, logprobs=())
        stored = self._speculation
        if speculation is not None and stored is not None and stored[0] == speculation:
            decoded = stored[1]
        else:
            decoded = self._final_decode()
        heard, text = self._text_of(decoded)
        transcript = Transcript(
            text=text,
            language=self._language or decoded.language,
            start=start_s,
            end=end_s,
            words=tuple(h.word for h in heard),
            logprobs=tuple(t for h in heard for t in h.tokens) if decoded.logprobs_known else None,
        )
        self._remember(text, transcript.words)
        self.reset()
        return transcript

    @staticmethod
    def _text_of(decoded: _FinalDecode) -> tuple[list[Any], str]:
        """The words a final keeps of ``decoded``, and their text (stock hallucinations out)."""
        heard = list(decoded.heard)
        text = "".join(h.text for h in heard).strip()
        if is_stock_hallucination(text) and decoded.non_speech:
            return [], ""
        return heard, text

    # --- context --------------------------------------------------------------------------

    def _remember(self, text: str, words: Sequence[Word]) -> None:
        """Keep the end of this utterance (text and audio) as the next one's context.

        The audio kept starts at a word: the first that begins in the last
        ``left_context_s`` seconds (decodes with it are not prompted with the history, so
        the decoder does not read as already written what it is about to hear).
        """
        opts = self._engine.options
        start_s = (self._start or 0) / SAMPLE_RATE
        end_s = start_s + len(self._audio) / SAMPLE_RATE
        first = next(
            (i for i, w in enumerate(words) if w.start >= end_s - opts.left_context_s), None
        )
        if opts.left_context_s <= 0 or first is None:
            self._left = self._left[:0]
        else:
            floor_s = words[first - 1].end if first else start_s
            from_s = max(floor_s, words[first].start - _LEFT_LEAD_S)
            self._left = np.array(
                self._audio.view()[round((from_s - start_s) * SAMPLE_RATE) :], dtype=np.int16
            )
            self._left_end = (self._start or 0) + len(self._audio)
        chars = opts.context_chars
        self._history = _tail_words(f"{self._history} {text}".strip(), chars) if chars > 0 else ""

    def _prompt(self, context: str) -> str | None:
        """The session's prompt followed by ``context`` (None when both are empty)."""
        prompt = " ".join(p for p in (self._options.prompt or "", context) if p)
        return prompt or None

    def _window_context(self) -> str:
        """What precedes a partial's window: committed text a trim cut off, else history."""
        if self._offset and self._committed_text:
            return self._committed_text[-self._engine.options.prompt_chars :]
        return self._history

    def _left_context(self) -> PCM:
        """Audio to decode before a short utterance (empty for a long one).

        It ends where the utterance starts: turns may overlap (the previous one's tail and
        this one's prefix padding), and the same audio twice would put this turn's first
        word before its start.
        """
        short = len(self._audio) < self._engine.options.short_turn_s * SAMPLE_RATE
        if not short or self._offset:
            return self._left[:0]
        overlap = self._left_end - (self._start or 0)
        return self._left[: max(0, len(self._left) - overlap)] if overlap > 0 else self._left

    # --- decodes ----------------------------------------------------------------------------

    def _final_decode(self) -> _FinalDecode:
        """The final model's decode of the whole utterance, with its context.

        With left audio context, a decode that kept no word of the utterance itself (Whisper
        may stop after the context) is done again on the utterance alone. (Keeping whichever
        of the two decodes is surer of its words was tried and is worse on short phrases:
        docs/decisions/live-finals.md.)
        """
        left = self._left_context()
        decoded = self._final_decode_with(left)
        if len(left) and not decoded.heard:
            decoded = self._final_decode_with(left[:0])
        return decoded

    def _final_decode_with(self, left: PCM) -> _FinalDecode:
        """The final decode of ``left`` + the utterance, prompted with what precedes them."""
        model = self._engine.final_model
        start_s = (self._start or 0) / SAMPLE_RATE
        audio = np.concatenate([left, self._audio.view()]) if len(left) else self._audio.view()
        base_s = start_s - len(left) / SAMPLE_RATE
        context = "" if len(left) else self._history

        def decode(prompt: str | None) -> tuple[Decoding, list[_Heard] | None]:
            decoding = model.decode(
                int16_to_float32(audio),
                language=self._language,
                prompt=prompt,
                beam_size=self._engine.options.final_beam_size,
                greedy_only=False,
                verbatim=self._options.verbatim,
                # verbatim (non-speech tags asked for): laughter and fillers loop or drop
                # words in a short window (mfa_laughter lost "a liner"), so it keeps 30 s
                window=None if self._options.verbatim else self._engine.options.final_window,
            )
            heard = _heard_words(model, decoding, base_s, after_s=start_s)
            if heard is None:
                return decoding, None
            return decoding, _without_trailing_noise(heard, audio, base_s)

        decoding, heard = decode(self._prompt(context))
        if context and echoes_prompt(_texts(heard), context):
            decoding, heard = decode(self._prompt(""))
        logprobs_known = heard is not None
        if heard is None:
            heard = _without_trailing_noise(_plain_words(decoding, base_s, start_s), audio, base_s)
        return _FinalDecode(
            heard=heard,
            language=decoding.language,
            non_speech=_looks_like_non_speech(decoding.segments),
            logprobs_known=logprobs_known,
        )

    def _decode_window(self, model: FasterWhisperASR, beam_size: int) -> list[Word]:
        """Decode the window and return the hypothesis beyond the committed words."""
        left = self._left_context()
        window = self._audio.view(self._offset)
        if len(left):
            window = np.concatenate([left, window])
        window_s = len(window) / SAMPLE_RATE
        start_s = ((self._start or 0) + self._offset) / SAMPLE_RATE
        base_s = start_s - len(left) / SAMPLE_RATE

        def decode(prompt: str | None) -> tuple[Decoding, list[Word]]:
            decoding = model.decode(
                int16_to_float32(window),
                language=self._language,
                prompt=prompt,
                beam_size=beam_size,
                greedy_only=True,
                max_new_tokens=min(220, 10 + int(window_s * _TOKENS_PER_SECOND)),
                verbatim=self._options.verbatim,
                window=self._engine.options.partial_window,
            )
            heard = _without_trailing_noise(_plain_words(decoding, base_s, start_s), window, base_s)
            return decoding, [h.word for h in heard]

        context = "" if len(left) else self._window_context()
        decoding, words = decode(self._prompt(context))
        if context and echoes_prompt(_texts(words), context):
            decoding, words = decode(self._prompt(""))
        if (
            self._language is None
            and words
            and window_s >= _LOCK_LANGUAGE_AFTER_S
            and decoding.language_probability >= _LOCK_LANGUAGE_PROBABILITY
        ):
            self._language = decoding.language  # one language for the rest of the utterance
        return _beyond(self._committed, words)

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


def _texts(words: list[Word] | list[_Heard] | None) -> list[str]:
    return [w.text for w in words or ()]


def _tail_words(text: str, chars: int) -> str:
    """The last ``chars`` characters of ``text``, starting at a word boundary."""
    if len(text) <= chars:
        return text
    tail = text[-chars:]
    cut = tail.find(" ")
    return tail[cut + 1 :] if cut >= 0 else tail


def _trusted_segments(segments: list[Any]) -> list[Any]:
    return [s for s in segments if segment_is_trustworthy(s)]


def _session_word(w: Any, base_s: float) -> Word:
    return Word(w.word, base_s + float(w.start), base_s + float(w.end), float(w.probability))


def _after(heard: list[_Heard], after_s: float) -> list[_Heard]:
    """Words of the utterance proper: left context (words centred before it) dropped.

    When the utterance's words begin by repeating the context's last words (two or more),
    Whisper wrote the context twice: that copy goes too.
    """
    before = [normalise_word(h.text) for h in heard if (h.word.start + h.word.end) / 2 < after_s]
    own = [h for h in heard if (h.word.start + h.word.end) / 2 >= after_s]
    for n in range(min(6, len(before), len(own)), 1, -1):
        if [normalise_word(h.text) for h in own[:n]] == before[-n:]:
            return own[n:]
    return own


def _plain_words(decoding: Decoding, base_s: float, after_s: float) -> list[_Heard]:
    """Words of the trustworthy segments on the session timeline, loops cut, no tokens."""
    heard = [
        _Heard(_session_word(w, base_s))
        for segment in _trusted_segments(decoding.segments)
        for w in (segment.words or ())
        if w.word.strip()
    ]
    return _after(cut_repetition(heard), after_s)


def _heard_words(
    model: FasterWhisperASR, decoding: Decoding, base_s: float, *, after_s: float
) -> list[_Heard] | None:
    """Like :func:`_plain_words`, each word with its tokens; None if tokens are unknown."""
    heard = []
    for segment in _trusted_segments(decoding.segments):
        tokens = model.word_tokens(segment, decoding.token_probs)
        if tokens is None:
            return None
        heard += [
            _Heard(_session_word(w, base_s), t)
            for w, t in zip(segment.words or (), tokens, strict=True)
            if w.word.strip()
        ]
    return _after(cut_repetition(heard), after_s)


def _without_trailing_noise(heard: list[_Heard], audio: PCM, base_s: float) -> list[_Heard]:
    """Drop guessed words at the end, and unsure ones that lie in quiet audio.

    Whisper, prompted with earlier text, may go on writing into the silence after the
    speech ("… to be ill-disposed. So", "So" at probability 0.01). Dropping a real but
    misheard last word instead costs the same as keeping it: one error.
    """
    if not heard:
        return heard
    levels = _frame_levels_db(audio)
    if len(levels) == 0:
        return heard
    loud = float(np.percentile(levels, 90))
    kept = list(heard)
    while kept:
        word = kept[-1].word
        unsure = word.probability is not None and word.probability < _UNSURE_WORD
        first = max(0, int((word.start - base_s) * SAMPLE_RATE) // _FRAME)
        last = max(first + 1, -(-int((word.end - base_s) * SAMPLE_RATE) // _FRAME))
        under = levels[first:last]
        quiet = len(under) == 0 or float(under.max()) < loud + _QUIET_DB
        guessed = word.probability is not None and word.probability < _GUESSED_WORD
        if not (guessed or (unsure and quiet)):
            break
        kept.pop()
    return kept


def _frame_levels_db(audio: PCM) -> Any:
    """RMS level (dBFS) of each 20 ms frame of ``audio``."""
    frames = len(audio) // _FRAME
    if frames == 0:
        return np.zeros(0)
    x = audio[: frames * _FRAME].astype(np.float32).reshape(frames, _FRAME) / 32768.0
    return 10 * np.log10(np.mean(x * x, axis=1) + 1e-10)


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
