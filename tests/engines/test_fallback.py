"""The deterministic fallback of Whisper decoding (engines/asr/fallback.py)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from engines.asr.fallback import FALLBACK_REPETITION_PENALTY, decode_deterministically
from engines.audio import load_pcm
from engines.base import ASROptions

SCHEDULE = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


@dataclasses.dataclass
class Options:
    """The fields of faster-whisper's TranscriptionOptions the fallback reads."""

    temperatures: list[float] = dataclasses.field(default_factory=lambda: list(SCHEDULE))
    repetition_penalty: float = 1.0
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6


def candidate(name: str, *, logprob: float = -0.2, ratio: float = 1.5, no_speech: float = 0.0):
    return (SimpleNamespace(name=name, no_speech_prob=no_speech), logprob, 0.0, ratio)


class Generate:
    """A fake ``generate_with_fallback``: answers in turn, records the options it got."""

    def __init__(self, *answers: Any) -> None:
        self.answers: Iterator[Any] = iter(answers)
        self.calls: list[Options] = []

    def __call__(self, options: Options) -> Any:
        self.calls.append(options)
        return next(self.answers)


def test_a_window_that_passes_is_decoded_once_at_temperature_zero():
    generate = Generate(candidate("first"))
    chosen = decode_deterministically(generate, Options())
    assert chosen[0].name == "first" and chosen[2] == 0.0
    assert [c.temperatures for c in generate.calls] == [[0.0]]


def test_a_looping_window_is_decoded_again_greedily_with_a_penalty():
    generate = Generate(candidate("loop", ratio=26.0), candidate("retry", logprob=-0.9))
    chosen = decode_deterministically(generate, Options())
    assert chosen[0].name == "retry" and chosen[2] == 0.0  # the next prompt is kept
    retry = generate.calls[1]
    assert retry.temperatures == [0.0] and retry.repetition_penalty == FALLBACK_REPETITION_PENALTY


def test_when_the_retry_fails_too_the_best_by_faster_whispers_rule_wins():
    # both loop: the higher log-probability; reported hot, so the next window's prompt resets
    generate = Generate(candidate("a", ratio=9.0, logprob=-0.3), candidate("b", ratio=3.0))
    chosen = decode_deterministically(generate, Options())
    assert chosen[0].name == "b" and chosen[2] == 1.0
    # the retry no longer loops but is unsure: it still beats a loop, whatever its logprob
    generate = Generate(candidate("a", ratio=9.0), candidate("b", ratio=1.2, logprob=-1.4))
    assert decode_deterministically(generate, Options())[0].name == "b"


def test_an_unsure_window_that_does_not_loop_is_not_retried():
    generate = Generate(candidate("unsure", logprob=-1.6))
    chosen = decode_deterministically(generate, Options())
    assert chosen[0].name == "unsure" and chosen[2] == 1.0 and len(generate.calls) == 1


def test_silence_is_left_to_faster_whisper():
    generate = Generate(candidate("quiet", logprob=-1.6, no_speech=0.9))
    chosen = decode_deterministically(generate, Options())
    assert chosen[0].name == "quiet" and chosen[2] == 0.0 and len(generate.calls) == 1


def test_a_single_temperature_is_passed_through():
    options = Options(temperatures=[0.0], compression_ratio_threshold=None)
    generate = Generate(candidate("only", ratio=30.0))
    assert decode_deterministically(generate, options)[0].name == "only"
    assert generate.calls == [options]


class SpyWhisper:
    """Wraps the CTranslate2 model: records each ``generate`` call's sampling settings."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.calls: list[dict[str, Any]] = []

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self._model.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@pytest.fixture
def spied(asr_base) -> Iterator[SpyWhisper]:
    model = asr_base._model
    spy = SpyWhisper(model.model)
    model.model = spy
    try:
        yield spy
    finally:
        model.model = spy._model


@pytest.mark.model
@pytest.mark.parametrize(
    ("clip", "verbatim"), [("mfa/mfa_laughter.flac", False), ("mfa/mfa_um.flac", True)]
)
def test_looping_clips_transcribe_the_same_every_time_without_sampling(
    asr_base, spied, testdata, clip, verbatim, monkeypatch
):
    # faster-whisper's own fallback sampled mfa_laughter's looping window ("Ha ha ha ha …",
    # compression ratio 26): three runs, three transcripts. Verbatim decoding of mfa_um
    # loops on its long "ummmm" and gets the same greedy retry. Whether Whisper loops on
    # these clips depends on the CPU's int8 kernels (on Intel and AVX-512 hosts it does, on
    # an AVX2 EPYC it does not), so the test lowers the loop threshold to 0.01: every window
    # then counts as looping and the retry runs on any CPU.
    model = asr_base._model
    monkeypatch.setattr(
        model, "transcribe", functools.partial(model.transcribe, compression_ratio_threshold=0.01)
    )
    audio = load_pcm(testdata / clip)
    options = ASROptions(word_timestamps=True, verbatim=verbatim)
    first, second = (asr_base.transcribe(audio, options) for _ in "12")
    assert first.text == second.text
    assert [w.start for w in first.words] == [w.start for w in second.words]
    assert all(call.get("sampling_temperature", 1.0) == 1.0 for call in spied.calls)
    assert all(call.get("sampling_topk", 1) == 1 for call in spied.calls)
    penalties = [call.get("repetition_penalty") for call in spied.calls]
    assert FALLBACK_REPETITION_PENALTY in penalties  # the loop was decoded again
    heard = first.text.lower()
    assert sum(word in heard for word in ("montreal", "forced", "liner")) >= 2, first.text
