"""Speculative finals: VAD PAUSE/RESUME hints, the stream's ahead-of-time final, the runner.

A final decoded during the speaker's pause is reused when the turn ends with no more
speech, so ``…transcription.completed`` arrives about a silence duration sooner
(``bench/realtime_latency.py`` measures it); these tests pin down that it is reused only
when valid and that it changes nothing in the text.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading

import numpy as np
import pytest

from engines.base import AudioChunk, SpeechEdge, VADOptions
from engines.testing import ScriptedScorer
from engines.vad.hysteresis import HysteresisVAD
from testkit.wer import wer
from tests.realtime import test_realtime_sdk as sdk
from tests.realtime.test_realtime_sdk import EVENT_TIMEOUT, GA_EVENTS, pcm24

engines = sdk.engines  # the real server with the default engines (fixtures)
server = sdk.server

F = 512  # Silero frame samples (32 ms)
PAUSE, RESUME, START, END = SpeechEdge.PAUSE, SpeechEdge.RESUME, SpeechEdge.START, SpeechEdge.END


def vad_edges(probs: list[float], options: VADOptions) -> list[tuple[SpeechEdge, int]]:
    vad = HysteresisVAD(ScriptedScorer(probs), options)
    audio = np.zeros(len(probs) * F, np.int16)
    return [(e.edge, e.sample) for e in vad.feed(AudioChunk(audio, 0))]


def test_pause_and_resume_hints_around_a_short_gap_and_at_the_end():
    options = VADOptions(prefix_padding_ms=0, silence_duration_ms=500, pause_ms=64)  # 2 frames
    probs = [0.9] * 10 + [0.0] * 3 + [0.9] * 5 + [0.0] * 16
    assert vad_edges(probs, options) == [
        (START, 0),
        (PAUSE, 10 * F),  # two silent frames: the pause began at frame 10
        (RESUME, 13 * F),  # speech went on at frame 13
        (PAUSE, 18 * F),
        (END, 18 * F),  # the END of a pause with no RESUME reports the PAUSE's sample
    ]


def test_no_hints_unless_asked_or_when_not_shorter_than_the_silence():
    probs = [0.9] * 10 + [0.0] * 3 + [0.9] * 5 + [0.0] * 16
    plain = [(START, 0), (END, 18 * F)]
    assert vad_edges(probs, VADOptions(prefix_padding_ms=0)) == plain
    too_long = VADOptions(prefix_padding_ms=0, silence_duration_ms=500, pause_ms=500)
    assert vad_edges(probs, too_long) == plain


@pytest.mark.model
def test_a_speculated_final_is_the_final_and_a_stale_token_decodes_again(engines, testdata):
    from engines.audio import load_pcm

    stream = engines.asr.open_stream(engines_options())
    model = engines.asr.final_model
    calls = count_calls(model)
    audio = np.concatenate([load_pcm(testdata / "openai-whisper/jfk.flac"), np.zeros(4800, np.int16)])  # fmt: skip
    stream.feed(AudioChunk(audio, 0))
    stream.speculate(1)
    assert calls["decode"] == 1
    stream.feed(AudioChunk(np.zeros(8000, np.int16), len(audio)))  # the rest of the silence
    reused = stream.finalize(speculation=1)
    assert calls["decode"] == 1  # the speculation was the final decode
    stream.feed(AudioChunk(audio, 100_000))
    stream.speculate(2)
    fresh = stream.finalize(speculation=1)  # token 1 is gone: decoded again
    assert calls["decode"] == 3
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, reused.text) == wer(reference, fresh.text) <= 0.05
    assert reused.end == pytest.approx(len(audio) / 16_000 + 0.5)


@pytest.mark.model
def test_a_guess_is_a_quick_partial_model_decode_that_changes_nothing(engines, testdata):
    from engines.audio import load_pcm

    stream = engines.asr.open_stream(engines_options())
    calls = count_calls(engines.asr.final_model)
    audio = load_pcm(testdata / "openai-whisper/jfk.flac")
    stream.feed(AudioChunk(audio, 0))
    guessed = stream.guess()
    assert calls["decode"] == 0  # the partial model guessed
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert guessed is not None and wer(reference, guessed) <= 0.15
    stream.speculate(1)
    final = stream.finalize(speculation=1)
    assert calls["decode"] == 1 and wer(reference, final.text) <= 0.05
    stream.feed(AudioChunk(np.zeros(16_000, np.int16), 400_000))
    assert stream.guess() is None  # silence: nothing to guess


def engines_options():
    from engines.base import ASROptions

    return ASROptions()


def count_calls(model) -> dict[str, int]:
    """Count ``model.decode`` calls (instance attribute; removed by the caller's fixture)."""
    calls = {"decode": 0}
    original = type(model).decode

    def decode(*args, **kwargs):
        calls["decode"] += 1
        return original(model, *args, **kwargs)

    model.decode = decode
    return calls


@pytest.fixture(autouse=True)
def _restore_decode(engines):
    yield
    engines.asr.final_model.__dict__.pop("decode", None)


@pytest.mark.model
async def test_the_runner_reuses_the_decode_made_during_the_pause(server, engines, testdata):
    """new-home-in-the-stars (one turn) + 200 ms of silence: the PAUSE (120 ms) starts the final decode; only when it has
    started does the rest of the silence follow. The final is that decode (one final-model
    decode for the turn), and its text is right."""
    model = engines.asr.final_model
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    calls = {"decode": 0}
    original = type(model).decode
    lock = threading.Lock()

    def decode(*args, **kwargs):
        with lock:
            calls["decode"] += 1
        loop.call_soon_threadsafe(started.set)
        return original(model, *args, **kwargs)

    model.decode = decode
    speech = pcm24(testdata, "deepspeech/new-home-in-the-stars-16k.wav", tail_s=0.2).tobytes()
    rest = np.zeros(int(24_000 * 0.8), np.int16).tobytes()
    async with server.client().realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        for i in range(0, len(speech), 9600):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(speech[i : i + 9600]).decode()
            )
        await asyncio.wait_for(started.wait(), EVENT_TIMEOUT)  # the speculative final
        assert calls["decode"] == 1
        await conn.input_audio_buffer.append(audio=base64.b64encode(rest).decode())
        stopped = completed = None
        while completed is None:
            event = GA_EVENTS.validate_json(
                await asyncio.wait_for(conn.recv_bytes(), EVENT_TIMEOUT)
            )
            assert event.type != "error", event
            if event.type == "input_audio_buffer.speech_stopped":
                stopped = event
            elif event.type == "conversation.item.input_audio_transcription.completed":
                completed = event
    assert stopped is not None and stopped.item_id == completed.item_id
    assert calls["decode"] == 1  # no second decode: the final reused the speculation
    reference = (testdata / "deepspeech/new-home-in-the-stars-16k.txt").read_text()
    assert wer(reference, completed.transcript) <= 0.05, completed.transcript
    assert json.loads(completed.model_dump_json())["transcript"]  # serialisable as sent
