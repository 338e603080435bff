"""HysteresisVAD logic over a scripted scorer: no model, exact sample arithmetic."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.base import AudioChunk, SpeechEdge, VADEvent, VADOptions
from engines.testing import ScriptedScorer
from engines.vad.hysteresis import (
    HysteresisVAD,
    ms_to_samples,
    pair_edges,
    release_threshold,
    speech_segments,
)

F = 512  # frame samples
START, END = SpeechEdge.START, SpeechEdge.END
DEFAULT = VADOptions()  # threshold 0.5, prefix 300 ms = 4800 samples, silence 500 ms
PREFIX = 4800
SILENCE_FRAMES = 16  # ceil(8000 / 512): 15 frames = 480 ms is not enough


def run(
    probs: list[float],
    options: VADOptions = DEFAULT,
    chunk: int = F,
    start: int = 0,
    tail: int = 0,
) -> tuple[list[VADEvent], HysteresisVAD]:
    """Feed len(probs) frames (+ tail samples) in chunks of `chunk` samples."""
    vad = HysteresisVAD(ScriptedScorer(probs), options)
    audio = np.zeros(len(probs) * F + tail, dtype=np.int16)
    events: list[VADEvent] = []
    for i in range(0, len(audio), chunk):
        events += vad.feed(AudioChunk(audio[i : i + chunk], start + i))
    return events, vad


def edges(events: list[VADEvent]) -> list[tuple[SpeechEdge, int]]:
    return [(e.edge, e.sample) for e in events]


def test_release_threshold_is_threshold_minus_015_floored() -> None:
    assert release_threshold(0.5) == pytest.approx(0.35)
    assert release_threshold(0.9) == pytest.approx(0.75)
    assert release_threshold(0.1) == 0.01
    assert ms_to_samples(300) == 4800
    assert HysteresisVAD(ScriptedScorer([]), DEFAULT).silence_frames == SILENCE_FRAMES


def test_silence_never_starts_speech() -> None:
    events, vad = run([0.0, 0.2, 0.49, 0.49999] * 10)
    assert events == []
    assert not vad.speaking


def test_start_is_speech_frame_start_minus_prefix_padding() -> None:
    events, vad = run([0.1] * 20 + [0.8])
    assert events == [VADEvent(START, 20 * F - PREFIX, pytest.approx(0.8))]
    assert vad.speaking


def test_start_at_exactly_threshold() -> None:
    events, _ = run([0.0] * 12 + [0.5])
    assert edges(events) == [(START, 12 * F - PREFIX)]


def test_prefix_padding_clamped_to_zero() -> None:
    events, _ = run([0.0, 0.0, 0.9])
    assert edges(events) == [(START, 0)]


def test_prefix_padding_clamped_to_first_sample_of_stream() -> None:
    # A stream whose first chunk starts at 10_000 never pads back before 10_000.
    events, _ = run([0.0, 0.9], start=10_000)
    assert edges(events) == [(START, 10_000)]


def test_prefix_padding_never_before_previous_end() -> None:
    # silence 200 ms = ceil(3200 / 512) = 7 frames < prefix 300 ms: the padding is cut at END.
    options = VADOptions(prefix_padding_ms=300, silence_duration_ms=200)
    events, _ = run([0.9] * 10 + [0.0] * 7 + [0.9], options)
    assert edges(events) == [(START, 0), (END, 10 * F), (START, 10 * F)]
    # One more silent frame: 18·512 − 4800 = 4416 is still before END (5120).
    events, _ = run([0.9] * 10 + [0.0] * 8 + [0.9], options)
    assert edges(events)[2] == (START, 10 * F)
    # With a long gap the full padding applies.
    events, _ = run([0.9] * 10 + [0.0] * 30 + [0.9], options)
    assert edges(events)[2] == (START, 40 * F - PREFIX)


@pytest.mark.parametrize(
    ("silence_ms", "frames"),
    [(500, 16), (64, 2), (65, 3), (32, 1), (1, 1), (0, 1), (200, 7)],
)
def test_silence_duration_exactly_honoured(silence_ms: int, frames: int) -> None:
    options = VADOptions(silence_duration_ms=silence_ms)
    assert frames == max(1, math.ceil(silence_ms * 16 / F))
    # One silent frame short, then speech again: no END.
    events, vad = run([0.9] * 5 + [0.0] * (frames - 1) + [0.9] * 3, options)
    assert edges(events) == [(START, 0)]
    assert vad.speaking
    # Exactly enough: END at the end of the last speech frame, emitted by the last silent frame.
    vad = HysteresisVAD(ScriptedScorer([0.9] * 5 + [0.0] * frames), options)
    per_frame = [vad.feed(AudioChunk(np.zeros(F, np.int16), k * F)) for k in range(5 + frames)]
    assert [e.edge for e in per_frame[0]] == [START]
    assert all(not out for out in per_frame[1:-1])
    assert per_frame[-1] == [VADEvent(END, 5 * F, 0.0)]
    assert not vad.speaking


def test_frames_between_thresholds_keep_speech_open() -> None:
    # 0.4 is below the START threshold (0.5) but above the release threshold (0.35).
    probs = [0.9] * 5 + [0.4] * 40 + [0.34] * SILENCE_FRAMES
    events, _ = run(probs)
    assert edges(events) == [(START, 0), (END, 45 * F)]
    # Outside speech the same 0.4 starts nothing.
    assert run([0.4] * 40)[0] == []


def test_band_frame_interrupts_a_silent_run() -> None:
    probs = [0.9] * 5 + [0.0] * (SILENCE_FRAMES - 1) + [0.4] + [0.0] * (SILENCE_FRAMES - 1)
    events, vad = run(probs)
    assert edges(events) == [(START, 0)]
    assert vad.speaking


def test_edges_alternate_over_several_turns() -> None:
    turn = [0.9] * 10 + [0.0] * 20
    events, _ = run([0.0] * 20 + turn * 3)
    assert [e.edge for e in events] == [START, END] * 3
    assert edges(events) == [
        (START, 20 * F - PREFIX),
        (END, 30 * F),
        (START, 50 * F - PREFIX),
        (END, 60 * F),
        (START, 80 * F - PREFIX),
        (END, 90 * F),
    ]


def test_flush_closes_open_speech_at_end_of_audio() -> None:
    # The 100-sample tail was never scored; it counts as continuing speech.
    _, vad = run([0.0] * 20 + [0.9] * 5, tail=100)
    final = vad.flush()
    assert edges(final) == [(END, 25 * F + 100)]
    assert vad.position is None  # flush resets the stream


def test_flush_closes_at_start_of_silent_run() -> None:
    _, vad = run([0.9] * 5 + [0.0] * 3)
    assert edges(vad.flush()) == [(END, 5 * F)]


def test_flush_without_open_speech_returns_nothing() -> None:
    _, vad = run([0.9] * 5 + [0.0] * SILENCE_FRAMES)
    assert vad.flush() == []


def test_non_contiguous_chunk_raises() -> None:
    vad = HysteresisVAD(ScriptedScorer([]), DEFAULT)
    vad.feed(AudioChunk(np.zeros(100, np.int16), 0))
    with pytest.raises(ValueError, match="expected 100"):
        vad.feed(AudioChunk(np.zeros(100, np.int16), 200))  # gap
    with pytest.raises(ValueError, match="expected 100"):
        vad.feed(AudioChunk(np.zeros(100, np.int16), 50))  # overlap
    assert vad.feed(AudioChunk(np.zeros(100, np.int16), 100)) == []
    assert vad.position == 200


def test_negative_start_and_2d_samples_raise() -> None:
    vad = HysteresisVAD(ScriptedScorer([]), DEFAULT)
    with pytest.raises(ValueError, match="negative"):
        vad.feed(AudioChunk(np.zeros(10, np.int16), -10))
    with pytest.raises(ValueError, match="1-D"):
        vad.feed(AudioChunk(np.zeros((2, 10), np.int16), 0))


def test_invalid_options_raise() -> None:
    with pytest.raises(ValueError):
        HysteresisVAD(ScriptedScorer([]), VADOptions(threshold=1.5))
    with pytest.raises(ValueError):
        HysteresisVAD(ScriptedScorer([]), VADOptions(silence_duration_ms=-1))


def test_reset_forgets_speech_remainder_and_scorer_state() -> None:
    scorer = ScriptedScorer([0.0] * 10 + [0.9] * 3)
    vad = HysteresisVAD(scorer, DEFAULT)
    audio = np.zeros(13 * F + 300, np.int16)
    first = vad.feed(AudioChunk(audio, 0))
    assert edges(first) == [(START, 10 * F - PREFIX)]
    vad.reset()
    assert (scorer.resets, scorer.calls, vad.speaking, vad.position) == (1, 0, False, None)
    # The 300-sample remainder is gone: a fresh 13 frames (any start) replay the script.
    again = vad.feed(AudioChunk(np.zeros(13 * F, np.int16), 50_000))
    assert edges(again) == [(START, 50_000 + 10 * F - PREFIX)]


def test_frames_carry_the_right_samples_across_chunks() -> None:
    scorer = ScriptedScorer([], record_frames=True)
    vad = HysteresisVAD(scorer, DEFAULT)
    audio = (np.arange(5 * F + 77) % 30_000).astype(np.int16)
    cuts = [0, 1, 300, 511, 512, 1500, 1501, 2600, len(audio)]
    for a, b in itertools.pairwise(cuts):
        vad.feed(AudioChunk(audio[a:b], a))
    assert len(scorer.frames) == 5
    for k, frame in enumerate(scorer.frames):
        np.testing.assert_array_equal(frame, audio[k * F : (k + 1) * F])


def _chunking(total: int, draw_sizes: list[int]) -> list[int]:
    """Cut points covering [0, total] from a list of chunk sizes (cycled)."""
    cuts, pos, i = [0], 0, 0
    while pos < total:
        pos = min(total, pos + draw_sizes[i % len(draw_sizes)])
        cuts.append(pos)
        i += 1
    return cuts


probabilities = st.lists(
    st.sampled_from([0.0, 0.2, 0.34, 0.35, 0.4, 0.5, 0.7, 1.0]), min_size=0, max_size=120
)
option_sets = st.builds(
    VADOptions,
    threshold=st.sampled_from([0.3, 0.5, 0.8]),
    prefix_padding_ms=st.sampled_from([0, 100, 300, 1000]),
    silence_duration_ms=st.sampled_from([0, 32, 100, 200, 500]),
)


@settings(max_examples=200, deadline=None)
@given(
    probs=probabilities,
    options=option_sets,
    sizes=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=20).filter(any),
    tail=st.integers(min_value=0, max_value=F - 1),
)
def test_any_chunking_gives_the_edges_of_whole_frames(
    probs: list[float], options: VADOptions, sizes: list[int], tail: int
) -> None:
    reference, ref_vad = run(probs, options, chunk=F, tail=tail)
    reference += ref_vad.flush()

    vad = HysteresisVAD(ScriptedScorer(probs), options)
    audio = np.zeros(len(probs) * F + tail, dtype=np.int16)
    cuts = _chunking(len(audio), sizes)
    events: list[VADEvent] = []
    for a, b in itertools.pairwise(cuts):
        events += vad.feed(AudioChunk(audio[a:b], a))
    events += vad.flush()

    assert events == reference
    # Invariants: strict alternation from START, non-decreasing samples, START < END.
    assert [e.edge for e in events] == [START, END] * (len(events) // 2)
    samples = [e.sample for e in events]
    assert samples == sorted(samples)
    assert all(s < e for s, e in pair_edges(events, len(audio)))


def test_speech_segments_over_a_scorer_and_an_engine() -> None:
    probs = [0.0] * 20 + [0.9] * 10 + [0.0] * 20 + [0.9] * 5
    audio = np.zeros(len(probs) * F, np.int16)
    scorer = ScriptedScorer(probs)
    scorer.calls = 7  # stale state: speech_segments resets the scorer first
    expected = [(20 * F - PREFIX, 30 * F), (50 * F - PREFIX, len(audio))]
    assert speech_segments(scorer, audio) == expected

    class Engine:
        def open_stream(self, options: VADOptions) -> HysteresisVAD:
            return HysteresisVAD(ScriptedScorer(probs), options)

    assert speech_segments(Engine(), audio) == expected
    no_padding = VADOptions(prefix_padding_ms=0)
    assert speech_segments(Engine(), audio, no_padding)[0] == (20 * F, 30 * F)


def test_pair_edges_rejects_non_alternating_edges() -> None:
    with pytest.raises(ValueError, match="alternate"):
        pair_edges([VADEvent(START, 0, 1.0), VADEvent(START, 5, 1.0)], 10)
    with pytest.raises(ValueError, match="alternate"):
        pair_edges([VADEvent(END, 5, 0.0)], 10)


def test_scripted_fakes_follow_the_contracts():
    from engines.base import ASROptions, SpeechEdge
    from engines.testing import ScriptedASR, ScriptedVAD

    vad = ScriptedVAD([(SpeechEdge.START, 1600), (SpeechEdge.END, 24000)]).open_stream(VADOptions())
    chunk = np.zeros(8000, np.int16)
    seen = [vad.feed(AudioChunk(chunk, i * 8000)) for i in range(4)]
    assert [[(e.edge, e.sample) for e in s] for s in seen] == [
        [(SpeechEdge.START, 1600)],
        [],
        [],
        [(SpeechEdge.END, 24000)],
    ]
    asr = ScriptedASR("hello big world")
    stream = asr.open_stream(ASROptions())
    deltas = []
    for i in range(5):
        stream.feed(AudioChunk(chunk, 16000 + i * 8000))
        deltas += [d.text for d in stream.partial()]
        assert stream.partial() == []  # nothing new since the last call
    final = stream.finalize()
    assert "".join(deltas) == "hello big world" == final.text
    assert (final.start, final.end) == (1.0, 3.5)
