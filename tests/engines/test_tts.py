"""Speech engines: tags, the shared streaming layer, wire formats, and real voices.

The logic tests run the shared layer with the shipped ``ToneTTS`` fake; the ``model`` tests
run Piper and hibari and check what they say by listening with Whisper base. Laziness and
cancellation are proven by counting the kernel's sentence renders, never by timing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engines import g711
from engines.audio import resample
from engines.base import PCM, ASROptions
from engines.errors import EngineError
from engines.models import ensure
from engines.testing import ToneTTS
from engines.tts import tags
from engines.tts.output import synthesize_to
from engines.tts.streaming import stream_speech
from engines.tts.tags import (
    BREATH_MS,
    PAUSE_MS,
    TAG_SILENCE_MS,
    Silence,
    Tag,
    parse,
    plan_speech,
    strip_tags,
)
from testkit.wer import wer

SENTENCE = "The quick brown fox jumps over the lazy dog. It was a sunny day."

# The acceptance text: three sentences, the second holding a [breath] and a [pause].
THREE = (
    "Thank you for calling the city library. "
    "Your books are ready [breath] at the front desk, [pause] and they will be held for a full week. "
    "Have a wonderful afternoon."
)
THREE_PIECES = 5  # text pieces the engine renders: the tags split the second sentence in 3
TAG_WORDS = re.compile(r"\b(pause|paws|breath|breathe|bracket)\b", re.IGNORECASE)
NEAR_ZERO = 200  # |sample| at or below this counts as silence (-44 dBFS)


def transcribe(asr, pcm: PCM, rate: int) -> str:
    return asr.transcribe(resample(pcm, rate, 16_000), ASROptions(language="en")).text


def longest_quiet_run(pcm: PCM, threshold: int = NEAR_ZERO) -> int:
    """Length in samples of the longest run of |sample| <= threshold."""
    quiet = np.concatenate(([0], (np.abs(pcm.astype(np.int32)) <= threshold).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(quiet))
    starts, ends = edges[::2], edges[1::2]
    return int((ends - starts).max()) if len(starts) else 0


class Recording:
    """Wraps an engine and keeps the native chunks it yields, to compare with the output."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.info = engine.info
        self.sample_rate = engine.sample_rate
        self.chunks: list[PCM] = []

    def voices(self):
        return self.engine.voices()

    def synthesize(self, text: str, *, voice=None, speed: float = 1.0) -> Iterator[PCM]:
        for chunk in self.engine.synthesize(text, voice=voice, speed=speed):
            self.chunks.append(chunk)
            yield chunk


def count_renders(monkeypatch, engine) -> list[object]:
    """Record every sentence the engine's kernel renders (the unit of synthesis work)."""
    calls: list[object] = []
    render = engine.render_sentence

    def counted(unit, speed):
        calls.append(unit)
        return render(unit, speed)

    monkeypatch.setattr(engine, "render_sentence", counted)
    return calls


# --- Tags -------------------------------------------------------------------------------------


def test_strip_tags():
    assert strip_tags("Well [laugh] that is <breath/> funny [cough]") == "Well that is funny"
    assert strip_tags("[sigh]") == ""
    assert strip_tags("keep [Proper Nouns] and a[1]") == "keep [Proper Nouns] and a[1]"


def test_parse_finds_tags_and_keeps_other_brackets_as_text():
    text = "Hi [pause] there <breath/> and <sigh> [Proper Nouns] a[1] [two words]."
    segments = parse(text)
    assert [s for s in segments if isinstance(s, Tag)] == [
        Tag("pause", "[pause]"),
        Tag("breath", "<breath/>"),
        Tag("sigh", "<sigh>"),
    ]
    assert "".join(s if isinstance(s, str) else s.raw for s in segments) == text
    assert parse("") == []


def test_documented_tag_table():
    assert (PAUSE_MS, BREATH_MS) == (500, 250)
    assert Tag("pause", "[pause]").silence_ms == 500
    assert Tag("breath", "[breath]").silence_ms == 250
    assert Tag("hesitate", "[hesitate]").silence_ms == Tag("hesitation", "").silence_ms > 0
    assert Tag("laugh", "[laugh]").silence_ms == 0
    assert Tag("whistle", "[whistle]").silence_ms == 0  # unknown tags: nothing
    for name in TAG_SILENCE_MS:  # every entry of the table is in the module's documentation
        assert f"``{name}``" in tags.__doc__


def test_plan_splits_at_gaps_and_drops_the_rest():
    plan = plan_speech("Hello there. [pause] How [laugh] are you? [breath]")
    assert plan == ["Hello there.", Silence(500, "pause"), "How are you?", Silence(250, "breath")]
    assert plan_speech("Well [laugh] that is [whistle] funny") == ["Well that is funny"]
    assert plan_speech("One [pause]. Two") == ["One", Silence(500, "pause"), "Two"]
    assert plan_speech("  [sigh] ") == [Silence(300, "sigh")]
    assert plan_speech("Ha [laugh] ha", voiced_tags=frozenset({"laugh"})) == ["Ha [laugh] ha"]
    assert plan_speech("") == []


# --- The streaming layer, with the ToneTTS fake ----------------------------------------------


def test_tone_stream_inserts_exact_silences():
    tone = ToneTTS(sample_rate=24_000, seconds_per_sentence=0.2)
    chunks = list(tone.synthesize("One. Two [pause] three. [breath] Four!"))
    assert [len(c) for c in chunks] == [4800, 4800, 12_000, 4800, 6000, 4800]
    assert not chunks[2].any() and not chunks[4].any()
    assert all(np.abs(c).max() > 8000 for c in (chunks[0], chunks[1], chunks[3], chunks[5]))
    assert tone.rendered == ["One.", "Two", "three.", "Four!"]
    assert tone.voices()[0].sample_rate == 24_000


def test_stream_is_lazy_one_sentence_per_chunk():
    tone = ToneTTS()
    chunks = tone.synthesize("First sentence. Second sentence. Third sentence.")
    assert tone.rendered == []  # nothing before the first next()
    next(chunks)
    assert tone.rendered == ["First sentence."]
    next(chunks)
    assert len(tone.rendered) == 2
    assert len(list(chunks)) == 1
    assert len(tone.rendered) == 3


def test_closing_the_stream_stops_synthesis():
    tone = ToneTTS()
    chunks = tone.synthesize("First sentence. Second sentence. Third sentence.")
    next(chunks)
    chunks.close()
    assert list(chunks) == []
    assert tone.rendered == ["First sentence."]


def test_speed_and_voice_checks_come_before_any_audio():
    tone = ToneTTS()
    with pytest.raises(EngineError, match="unknown voice"):
        tone.synthesize("Hi.", voice="nobody")
    with pytest.raises(EngineError, match="speed"):
        tone.synthesize("Hi.", speed=0.1)
    with pytest.raises(ValueError, match="unsupported audio format"):
        synthesize_to(tone, "Hi.", "mp3")
    assert tone.rendered == []
    fast = np.concatenate(list(stream_speech(tone, "Hi.", speed=2.0)))
    assert len(fast) == 2400


@pytest.mark.parametrize(
    ("fmt", "rate", "width"),
    [("pcm16", 24_000, 2), ("g711_ulaw", 8000, 1), ("audio/pcma", 8000, 1)],
)
def test_output_format_lengths(fmt, rate, width):
    tone = ToneTTS(sample_rate=24_000, seconds_per_sentence=0.5)
    data = b"".join(synthesize_to(tone, "One. Two [pause] three.", fmt))
    seconds = 3 * 0.5 + PAUSE_MS / 1000
    assert abs(len(data) - seconds * rate * width) <= 2 * width  # the resampler tail is flushed


def test_output_is_lazy_and_closes_the_engine_stream():
    tone = ToneTTS(sample_rate=22_050)
    out = synthesize_to(tone, "First sentence. Second sentence. Third sentence.", "g711_ulaw")
    assert tone.rendered == []
    assert len(next(out)) > 0
    assert tone.rendered == ["First sentence."]
    out.close()
    assert tone.rendered == ["First sentence."]


def test_output_resamples_a_tone_cleanly():
    tone = ToneTTS(hz=440, sample_rate=22_050, seconds_per_sentence=1.0)
    data = b"".join(synthesize_to(tone, "A. B.", "g711_ulaw"))
    pcm = g711.ulaw_decode(data).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    assert np.fft.rfftfreq(len(pcm), 1 / 8000)[spectrum.argmax()] == pytest.approx(440, abs=2)


# --- Real voices --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["piper", "hibari"])
def tts(request, model_cache_dir):
    if request.param == "piper":
        from engines.tts.piper import PiperTTS

        return PiperTTS(ensure("piper-joe", model_cache_dir))
    from engines.tts.hibari import HibariTTS

    return HibariTTS(ensure("hibari-heart", model_cache_dir))


@pytest.mark.model
def test_speech_is_intelligible(tts, asr_base):
    chunks = list(tts.synthesize(SENTENCE))
    assert len(chunks) == 2  # one per sentence: the runner can cancel between them
    assert all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    pcm = np.concatenate(chunks)
    seconds = len(pcm) / tts.sample_rate
    assert 2.0 < seconds < 8.0
    assert np.abs(pcm).max() > 8000  # audible, not silence
    heard = transcribe(asr_base, pcm, tts.sample_rate)
    assert wer(SENTENCE, heard) <= 0.15, heard


@pytest.mark.model
def test_three_sentences_with_tags(tts, asr_base):
    chunks = list(tts.synthesize(THREE))
    pcm = np.concatenate(chunks)
    heard = transcribe(asr_base, pcm, tts.sample_rate)
    assert wer(strip_tags(THREE), heard) <= 0.10, heard
    assert not TAG_WORDS.search(heard), heard
    # The two tags became exact silences at their positions, between the speech pieces.
    silent = [i for i, c in enumerate(chunks) if not c.any()]
    assert silent == [2, 4]
    assert len(chunks[2]) == round(BREATH_MS * tts.sample_rate / 1000)
    assert len(chunks[4]) == round(PAUSE_MS * tts.sample_rate / 1000)
    assert longest_quiet_run(pcm) >= PAUSE_MS * tts.sample_rate / 1000


@pytest.mark.model
def test_first_chunk_arrives_before_the_rest_is_synthesized(tts, monkeypatch):
    calls = count_renders(monkeypatch, tts)
    chunks = tts.synthesize(THREE)
    assert calls == []  # lazy: nothing before the first next()
    first = next(chunks)
    assert len(calls) == 1  # the first sentence only
    assert np.abs(first).max() > 8000
    rest = list(chunks)
    assert len(calls) == THREE_PIECES
    assert len(rest) == THREE_PIECES - 1 + 2  # the other pieces and the two tag silences


@pytest.mark.model
def test_streams_are_pulled_from_worker_threads(tts):
    # The runner pulls one chunk per executor job, from whichever worker is free, and
    # sessions share one engine: interleave two streams over two workers.
    streams = [tts.synthesize(THREE), tts.synthesize(THREE)]
    pulled: list[list[PCM]] = [[], []]
    live = {0, 1}
    with ThreadPoolExecutor(max_workers=2) as pool:
        while live:
            jobs = {i: pool.submit(next, streams[i], None) for i in live}
            for i, job in jobs.items():
                chunk = job.result()
                if chunk is None:
                    live.discard(i)
                else:
                    pulled[i].append(chunk)
    alone = list(tts.synthesize(THREE))
    for chunks in pulled:
        assert [not c.any() for c in chunks] == [not c.any() for c in alone]
        if tts.info.name == "hibari":  # deterministic: identical to a lone stream
            assert all(np.array_equal(a, b) for a, b in zip(chunks, alone, strict=True))


@pytest.mark.model
def test_cancel_between_chunks(tts, monkeypatch):
    calls = count_renders(monkeypatch, tts)
    chunks = tts.synthesize(THREE)
    next(chunks)
    chunks.close()  # what the runner does on barge-in / response.cancel
    assert list(chunks) == []
    assert len(calls) == 1  # the later sentences were never synthesised


@pytest.mark.model
@pytest.mark.parametrize(
    ("fmt", "rate", "decode"),
    [
        ("pcm16", 24_000, lambda b: np.frombuffer(b, "<i2").astype(np.int16)),
        ("g711_ulaw", 8000, g711.ulaw_decode),
        ("g711_alaw", 8000, g711.alaw_decode),
    ],
)
def test_output_formats(tts, asr_base, fmt, rate, decode):
    recording = Recording(tts)
    data = b"".join(synthesize_to(recording, THREE, fmt))
    native = sum(len(c) for c in recording.chunks)
    expected = native * rate / tts.sample_rate
    pcm = decode(data)
    assert len(data) == len(pcm) * (2 if fmt == "pcm16" else 1)
    assert abs(len(pcm) - expected) <= 2, (len(pcm), expected)
    heard = transcribe(asr_base, pcm, rate)
    assert wer(strip_tags(THREE), heard) <= 0.15, heard


@pytest.mark.model
def test_declared_rates_and_voices(tts):
    assert tts.sample_rate == {"piper": 22_050, "hibari": 24_000}[tts.info.name]
    assert [v.id for v in tts.voices()] == [tts.info.model]
    assert [(v.language, v.sample_rate) for v in tts.voices()] == [("en-US", tts.sample_rate)]


@pytest.mark.model
def test_piper_voice_by_path(model_cache_dir, tmp_path):
    from engines.tts.piper import PiperTTS

    joe = ensure("piper-joe", model_cache_dir)
    (tmp_path / "my-voice.onnx").symlink_to(joe)
    (tmp_path / "my-voice.onnx.json").symlink_to(f"{joe}.json")
    voice = PiperTTS(tmp_path / "my-voice.onnx")
    assert [(v.id, v.language, v.sample_rate) for v in voice.voices()] == [
        ("my-voice", "en-US", 22_050)
    ]
    assert voice.info.model == "my-voice"


@pytest.mark.model
def test_speed_changes_duration(tts):
    normal = sum(len(c) for c in tts.synthesize("Hello there, how are you?"))
    fast = sum(len(c) for c in tts.synthesize("Hello there, how are you?", speed=1.5))
    assert fast < 0.85 * normal


@pytest.mark.model
def test_inline_tags_are_not_spoken(tts, asr_base):
    pcm = np.concatenate(list(tts.synthesize("Hello there. [laugh] Nice to meet you.")))
    heard = transcribe(asr_base, pcm, tts.sample_rate)
    assert "laugh" not in heard.lower()
    assert wer("Hello there. Nice to meet you.", heard) <= 0.2, heard


@pytest.mark.model
def test_bad_requests_fail_before_audio(tts):
    with pytest.raises(EngineError, match="unknown voice"):
        tts.synthesize("hi", voice="nobody")
    with pytest.raises(EngineError, match="speed"):
        tts.synthesize("hi", speed=10)


@pytest.mark.model
def test_empty_text_yields_nothing(tts):
    assert list(tts.synthesize("   ")) == []
    assert list(tts.synthesize("[laugh] <cough/>")) == []
