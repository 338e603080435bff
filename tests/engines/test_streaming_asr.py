"""Streaming Whisper (LocalAgreement-2) on real speech fed in 20 ms chunks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engines.asr.guards import (
    cut_repetition,
    echoes_prompt,
    is_stock_hallucination,
    segment_is_trustworthy,
)
from engines.asr.incremental import StreamingOptions, StreamingWhisper
from engines.audio import load_pcm
from engines.base import ASROptions, AudioChunk, Word
from testkit.wer import wer

CHUNK = 320  # 20 ms at 16 kHz

CLIPS = [
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "deepspeech/LDC93S1.wav",
    "deepspeech/LDC93S1_pcms16le_1_8000.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
]


def stream(engine, audio, *, every_s=1.0, start=0, options=None):
    """Feed ``audio`` in 20 ms chunks, asking for partials every ``every_s``; finalize."""
    s = engine.open_stream(options or ASROptions())
    deltas: list[str] = []
    every = round(every_s * 16_000 / CHUNK)
    for n, i in enumerate(range(0, len(audio), CHUNK), start=1):
        s.feed(AudioChunk(audio[i : i + CHUNK], start + i))
        if n % every == 0:
            deltas += [d.text for d in s.partial()]
    return deltas, s.finalize()


@pytest.fixture(scope="module")
def base_streaming(asr_base):
    return StreamingWhisper(asr_base)


@pytest.fixture(scope="module")
def tiny_then_base(asr_tiny, asr_base):
    return StreamingWhisper(asr_tiny, asr_base)


@pytest.mark.model
def test_streaming_matches_batch_on_the_clip_set(base_streaming, testdata):
    streamed, batch, refs = [], [], []
    for clip in CLIPS:
        audio = load_pcm(testdata / clip)
        reference = (testdata / clip).with_suffix(".txt").read_text()
        deltas, final = stream(base_streaming, audio, every_s=1.5)
        if len(audio) > 5 * 16_000:  # shorter clips may end before two partials agree
            assert deltas, clip
        assert final.language == "en"
        if clip.startswith("deepspeech/LDC93S1"):
            # LDC93S1 (TIMIT) is beyond Whisper base even in batch: WER 0.27-0.45 there, a
            # different wrong text with each decoding setting, so it is left out below too.
            continue
        one_shot = base_streaming.transcribe(audio, ASROptions()).text
        streamed.append(final.text)
        batch.append(one_shot)
        refs.append(reference)
        assert wer(reference, final.text) <= 0.10, (clip, final.text)
    set_streamed, set_batch = wer(refs, streamed), wer(refs, batch)
    # measured (2 cores, partials every 1.5 s, without LDC93S1): both ≈ 0.012: one wrong word in 0870
    assert set_streamed <= set_batch + 0.02, (set_streamed, set_batch)


@pytest.mark.model
def test_tiny_partials_base_final_is_the_final_models_own_decode(tiny_then_base, testdata):
    audio = load_pcm(testdata / "openai-whisper/jfk.flac")
    deltas, final = stream(tiny_then_base, audio, every_s=0.5, start=123_456)
    assert len(deltas) >= 5  # words arrive while the speaker talks
    alone = tiny_then_base.open_stream(ASROptions())
    alone.feed(AudioChunk(audio, 123_456))
    assert final.text == alone.finalize().text  # the partials did not shape the final
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, final.text) <= 0.10, final.text
    # times are on the session timeline, offset by the first chunk's start
    assert final.start == pytest.approx(123_456 / 16_000)
    assert all(final.start <= w.start <= w.end <= final.end + 0.1 for w in final.words)


@pytest.mark.model
def test_long_utterance_is_trimmed_and_stays_accurate(tiny_then_base, testdata):
    audio = load_pcm(testdata / "faster-whisper/physicsworks.wav")[: 30 * 16_000]
    engine = StreamingWhisper(
        tiny_then_base.partial_model,
        tiny_then_base.final_model,
        StreamingOptions(max_buffer_s=8.0, hard_max_buffer_s=12.0),
    )
    s = engine.open_stream(ASROptions())
    deltas, widest = [], 0.0
    for n, i in enumerate(range(0, len(audio), CHUNK), start=1):
        s.feed(AudioChunk(audio[i : i + CHUNK], i))
        if n % 75 == 0:
            deltas += [d.text for d in s.partial()]
            widest = max(widest, (len(s._audio) - s._offset) / 16_000)
    assert s._offset > 0  # the window was trimmed
    assert widest <= 12.0 + 1.5  # and never grew past the hard bound (+ one cadence)
    final = s.finalize()
    batch = engine.transcribe(audio, ASROptions()).text
    assert wer(batch, "".join(deltas)) <= 0.3, (batch, deltas)
    assert wer(batch, final.text) <= 0.1, (batch, final.text)


@pytest.mark.model
@pytest.mark.parametrize("clip", ["aana/squirrel.wav", "aeneas/vad_zero.wav"])
def test_silence_gives_no_text(tiny_then_base, testdata, clip):
    deltas, final = stream(tiny_then_base, load_pcm(testdata / clip)[: 4 * 16_000], every_s=0.5)
    assert deltas == [] and final.text == ""


@pytest.mark.model
def test_no_decode_without_new_audio(tiny_then_base, testdata, monkeypatch):
    audio = load_pcm(testdata / "openai-whisper/jfk.flac")[: 3 * 16_000]
    s = tiny_then_base.open_stream(ASROptions())
    calls = []
    original = tiny_then_base.partial_model.decode
    monkeypatch.setattr(
        tiny_then_base.partial_model, "decode", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    s.feed(AudioChunk(audio[:4000], 0))
    assert s.partial() == [] and calls == []  # under min_audio_s: nothing decoded
    s.feed(AudioChunk(audio[4000:], 4000))
    s.partial()
    s.partial()
    assert len(calls) == 1


def test_feed_must_be_contiguous(tiny_then_base):
    s = tiny_then_base.open_stream(ASROptions())
    s.feed(AudioChunk(np.zeros(320, np.int16), 1000))
    with pytest.raises(ValueError, match="expected 1320"):
        s.feed(AudioChunk(np.zeros(320, np.int16), 2000))
    s.reset()
    s.feed(AudioChunk(np.zeros(320, np.int16), 2000))  # a new utterance may start anywhere
    assert s.finalize().text == ""


# --- guards (pure logic) -----------------------------------------------------------------


def _words(text: str) -> list[Word]:
    return [Word(f" {t}", i, i + 1) for i, t in enumerate(text.split())]


def test_cut_repetition():
    def cut(text):
        return " ".join(w.text.strip() for w in cut_repetition(_words(text)))

    assert cut("no no no") == "no no no"
    assert cut("no no no no no") == "no no no"
    assert cut("I think that I think that I think that I think that") == (
        "I think that I think that"
    )
    assert cut("thank you thank you so much") == "thank you thank you so much"
    assert cut("150 joules is enough to kill you 150 joules is enough to kill you") == (
        "150 joules is enough to kill you"
    )
    assert cut("") == ""


def test_echoes_prompt():
    prompt = "We spoke about the invoice. Please send it to accounting by Friday."
    assert echoes_prompt(["Please", "send", "it", "to", "accounting"], prompt)
    assert not echoes_prompt(["Please", "send", "it"], "")
    assert not echoes_prompt(["Yes", "please"], prompt)  # too short to tell
    assert not echoes_prompt(
        ["Send", "the", "report", "to", "the", "finance", "team", "today"], prompt
    )


def test_stock_hallucinations():
    assert is_stock_hallucination(" Thank you.")
    assert is_stock_hallucination("you")
    assert not is_stock_hallucination("Thank you for the lovely dinner.")


def test_segment_trust():
    def seg(no_speech, logprob, ratio=1.5):
        return SimpleNamespace(
            no_speech_prob=no_speech, avg_logprob=logprob, compression_ratio=ratio
        )

    assert segment_is_trustworthy(seg(0.1, -0.3))
    assert segment_is_trustworthy(seg(0.7, -0.2))  # confident despite the no-speech score
    assert not segment_is_trustworthy(seg(0.7, -1.5))
    assert not segment_is_trustworthy(seg(0.9, -0.1))
    assert not segment_is_trustworthy(seg(0.1, -0.3, ratio=3.0))


def test_left_context_words_and_a_repeated_copy_of_them_are_dropped():
    from engines.asr.incremental import _after, _Heard

    def heard(spec):  # "word@start-end"
        out = []
        for item in spec.split():
            text, times = item.split("@")
            start, end = (float(t) for t in times.split("-"))
            out.append(_Heard(Word(f" {text}", start, end, 0.9)))
        return out

    decoded = heard("from@0.2-0.4 a@0.4-0.5 certain@0.5-0.8 height@0.8-1.1 then@3.2-3.5")
    assert [h.text for h in _after(decoded, 3.0)] == [" then"]
    twice = heard(
        "a@0.4-0.5 certain@0.5-0.8 height@0.8-1.1 a@3.1-3.2 certain@3.2-3.4 height@3.4-3.7"
    )
    assert _after(twice, 3.0) == []  # Whisper wrote the context again after the boundary
    once = heard("height@0.8-1.1 height@3.1-3.5")
    assert [h.text for h in _after(once, 3.0)] == [" height"]  # one word may be said twice


def test_trailing_guesses_and_unsure_words_in_silence_are_dropped():
    from engines.asr.incremental import _Heard, _without_trailing_noise

    rng = np.random.default_rng(0)
    speech = (rng.standard_normal(16_000) * 3000).astype(np.int16)
    audio = np.concatenate([speech, np.zeros(8000, np.int16)])  # 1 s of noise-like speech

    def word(text, start, end, p):
        return _Heard(Word(f" {text}", start, end, p))

    said = [word("to", 0.2, 0.5, 0.9), word("be", 0.5, 0.9, 0.95)]
    assert _without_trailing_noise([*said, word("So", 1.1, 1.4, 0.3)], audio, 0.0) == said
    assert _without_trailing_noise([*said, word("So", 0.6, 0.95, 0.05)], audio, 0.0) == said
    kept = [*said, word("Phil", 0.7, 0.95, 0.3)]  # unsure but in loud audio: kept
    assert _without_trailing_noise(kept, audio, 0.0) == kept
