"""Live finals as good as batch: turns cut by the real VAD, context carried between them.

A "conversation" is real clips joined by silent gaps; Silero (server_vad 500 ms) cuts it into
turns as a session would, and one stream (tiny.en partials, base finals, as served)
transcribes them in order, with partials every 0.5 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines.asr.guards import normalise_word
from engines.asr.incremental import StreamingOptions, StreamingWhisper
from engines.audio import load_pcm
from engines.base import ASROptions, AudioChunk, SpeechEdge, VADOptions
from testkit.wer import wer

SR = 16_000
CHUNK = 320  # 20 ms
PARTIAL_EVERY = 25  # chunks: 0.5 s
TAIL = 200 * 16  # the session keeps 200 ms after the VAD's end of speech
EN = ASROptions(language="en")

CONVERSATION = [
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "pyroomacoustics/cmu_arctic_us_axb_a0004.wav",
    "asterisk/agent-pass.wav",
    "asterisk/demo-congrats.wav",
]


@pytest.fixture(scope="module")
def served(asr_tiny, asr_base):
    return StreamingWhisper(asr_tiny, asr_base)


@pytest.fixture(scope="module")
def vad():
    from engines.vad.silero import SileroVAD

    return SileroVAD.load()


def reference(testdata, clip: str) -> str:
    lines = (testdata / clip).with_suffix(".txt").read_text().splitlines()
    return " ".join(line for line in lines if not line.startswith("#")).strip()


def join(pieces: list[np.ndarray], gaps_s: list[float]) -> tuple[np.ndarray, list[tuple]]:
    """The pieces with silence after each; and where each piece lies (samples)."""
    parts, spans, at = [], [], 0
    for piece, gap in zip(pieces, gaps_s, strict=True):
        parts += [piece, np.zeros(round(gap * SR), np.int16)]
        spans.append((at, at + len(piece)))
        at += len(piece) + round(gap * SR)
    return np.concatenate([*parts, np.zeros(2 * SR, np.int16)]), spans


def vad_turns(vad, audio: np.ndarray) -> list[tuple[int, int]]:
    """Turns as server_vad (500 ms) cuts them, with the session's 200 ms tail."""
    stream = vad.open_stream(VADOptions(0.5, 300, 500))
    turns, start = [], None
    for i in range(0, len(audio), CHUNK):
        for event in stream.feed(AudioChunk(audio[i : i + CHUNK], i)):
            if event.edge is SpeechEdge.START and start is None:
                start = event.sample
            elif event.edge is SpeechEdge.END and start is not None:
                turns.append((start, min(len(audio), event.sample + TAIL)))
                start = None
    return turns


def transcribe_turns(engine, audio, turns, options=EN):
    """Each turn through one stream as the runner drives it: feeds, partials, final."""
    stream = engine.open_stream(options)
    finals = []
    for start, end in turns:
        for n, i in enumerate(range(start, end, CHUNK), start=1):
            stream.feed(AudioChunk(audio[i : min(end, i + CHUNK)], i))
            if n % PARTIAL_EVERY == 0:
                stream.partial()
        finals.append(stream.finalize())
    return finals


@pytest.mark.model
def test_streamed_turns_give_the_batch_words_clip_by_clip(served, vad, testdata):
    clips = [load_pcm(testdata / clip) for clip in CONVERSATION]
    audio, spans = join(clips, [(0.7, 1.5)[i % 2] for i in range(len(clips))])
    turns = vad_turns(vad, audio)
    assert len(turns) > len(clips)  # some clips are cut into several turns
    finals = transcribe_turns(served, audio, turns)
    within, truths, streamed_texts, batch_texts = [], [], [], []
    for clip, samples, (start, end) in zip(CONVERSATION, clips, spans, strict=True):
        said = [
            f.text for f, (a, b) in zip(finals, turns, strict=True) if start <= (a + b) / 2 < end
        ]
        truth, streamed = reference(testdata, clip), " ".join(said)
        batch = served.transcribe(samples, EN).text
        if wer(truth, streamed) <= wer(truth, batch) + 0.02:
            within.append(clip)
        truths.append(truth)
        streamed_texts.append(streamed)
        batch_texts.append(batch)
    report = list(zip(CONVERSATION, streamed_texts, batch_texts, strict=True))
    assert len(within) >= 5, report  # the acceptance floor: 5 clips within 2 WER points
    assert wer(truths, streamed_texts) <= wer(truths, batch_texts) + 0.01, report


def phrase(testdata, clip: str, first: int, last: int) -> np.ndarray:
    """Words ``first`` to ``last`` (exclusive) of a clip, cut by its pocketsphinx alignment."""
    audio = load_pcm(testdata / clip)
    alignment = json.loads((testdata / clip).with_suffix(".words.json").read_text())["w"]
    words = [w for w in alignment if not w["t"].startswith("<")][first:last]
    begin, end = words[0]["b"], words[-1]["b"] + words[-1]["d"]
    return audio[round(begin * SR) : round(end * SR) + 800]


@pytest.mark.model
@pytest.mark.parametrize(
    ("clip", "first", "last", "words"),
    [
        ("pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav", 0, 3, "and mr john"),
        ("pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav", 5, 8, "disposed young man"),
        ("pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav", 6, 8, "young man"),
    ],
)
def test_a_short_phrase_after_a_previous_turn_keeps_its_words(
    served, vad, testdata, clip, first, last, words
):
    previous = load_pcm(testdata / "pyroomacoustics/cmu_arctic_us_aew_a0001.wav")
    audio, _ = join([previous, phrase(testdata, clip, first, last)], [0.7, 0.7])
    turns = vad_turns(vad, audio)
    assert len(turns) == 2 and (turns[1][1] - turns[1][0]) / SR < 2.0  # a short second turn
    said = transcribe_turns(served, audio, turns)[1].text
    heard = [normalise_word(w) for w in said.split()]
    assert all(w in heard for w in words.split()), said


@pytest.mark.model
def test_context_carries_between_utterances_and_reset_keeps_it(asr_tiny, asr_base, testdata):
    engine = StreamingWhisper(asr_tiny, asr_base, StreamingOptions(context_chars=60))
    prompts: list[str | None] = []
    decode = asr_base.decode

    def spy(*args, **kwargs):
        prompts.append(kwargs.get("prompt"))
        return decode(*args, **kwargs)

    stream = engine.open_stream(ASROptions(language="en", prompt="Glossary: Dashwood."))
    first = load_pcm(testdata / "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav")
    stream.feed(AudioChunk(first, 0))
    said = stream.finalize().text
    assert "ill-disposed" in said.lower() or "ill disposed" in said.lower(), said
    stream.feed(AudioChunk(np.zeros(SR, np.int16) + 1000, 10 * SR))
    stream.reset()  # a cleared turn drops its audio, not the conversation
    second = load_pcm(testdata / "deepspeech/new-home-in-the-stars-16k.wav")
    stream.feed(AudioChunk(second, 20 * SR))
    asr_base.decode = spy  # type: ignore[method-assign]
    try:
        stream.finalize()
    finally:
        asr_base.decode = decode  # type: ignore[method-assign]
    prompt = prompts[0]
    assert prompt is not None and prompt.startswith("Glossary: Dashwood.")
    assert prompt.endswith(said[-20:]) and len(prompt) <= len("Glossary: Dashwood.") + 61


@pytest.mark.model
def test_final_logprobs_spell_the_transcript(served, testdata):
    audio = load_pcm(testdata / "openai-whisper/jfk.flac")
    stream = served.open_stream(EN)
    stream.feed(AudioChunk(audio, 0))
    final = stream.finalize()
    assert final.logprobs, final
    assert "".join(t.token for t in final.logprobs).strip() == final.text
    assert all(t.logprob <= 0.0 for t in final.logprobs)
    assert all(bytes(t.bytes).decode("utf-8") == t.token for t in final.logprobs)
    # confident speech: most tokens near probability 1, not a constant filler
    values = sorted(t.logprob for t in final.logprobs)
    assert values[len(values) // 2] > -0.5 and values[0] < values[-1]
