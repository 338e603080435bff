"""The official ``openai`` Python SDK against a live voxgate, driven as its docs show.

One voxgate per module (real VAD, ASR and TTS; the ``say`` responder) serves the SDK's
clients with only ``base_url`` changed: ``AsyncOpenAI().realtime.connect()`` (GA),
``.beta.realtime.connect()`` (beta), transcription sessions in both dialects, and the
synchronous client's ``audio.transcriptions`` (every ``response_format``, and
``stream=True``), ``audio.translations`` and ``audio.speech`` (every ``response_format``).
Clips are a few seconds long: the heavy model work is in tests/realtime/.

The SDK is the judge, strictly: every realtime server event must validate with the SDK's
own ``RealtimeServerEvent`` union (GA or beta), hold no field the SDK does not define, and
dump back to exactly what was sent (:func:`strict_event`); REST answers and streamed
transcription events likewise (:func:`strict_model`). The only tolerated extras are the
session's ``id``/``object``/``expires_at`` (:data:`SESSION_SERVER_FIELDS`) and
``verbose_json``'s ``task`` (:data:`VERBOSE_SERVER_FIELDS`), which OpenAI itself sends and
the SDK's types omit; beta ``transcription_session.created`` (OpenAI's, missing from the
SDK's beta union) is judged as its twin ``transcription_session.updated``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai import BaseModel as SDKModel
from openai.types.audio import TranscriptionStreamEvent
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.beta.realtime import TranscriptionSessionUpdatedEvent
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from engines.audio import decode_file, load_pcm, resample
from engines.base import ASROptions, Engines
from realtime.auth.keys import KeyStore
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.settings import Settings
from testkit.wer import wer
from tests.protocol.test_sdk_compat import SESSION_SERVER_FIELDS, sdk_extras
from tests.realtime.batch_support import LiveServer

pytestmark = pytest.mark.model

GA = TypeAdapter(RealtimeServerEvent)
BETA = TypeAdapter(BetaServerEvent)
STREAM_EVENTS = TypeAdapter(TranscriptionStreamEvent)
EVENT_TIMEOUT_S = 60
RATE = 24_000  # the Realtime API's pcm16 rate
CHUNK = RATE * 2 * 40 // 1000  # 40 ms of pcm16
CLIP = "deepspeech/new-home-in-the-stars-16k.wav"  # "we must find a new home in the stars"
CLIP_S = 3.59
SAY = "The weather today is sunny and warm."
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
VERBOSE_SERVER_FIELDS = {"task"}
"""OpenAI's ``verbose_json`` bodies carry ``task``; the SDK's ``*Verbose`` types omit it."""
TRANSLATIONS_DEPRECATED = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
"""The SDK marks ``audio.translations.create`` deprecated (as OpenAI's endpoint is)."""


# --- the SDK as judge ------------------------------------------------------------------------


def strict_event(adapter: TypeAdapter[Any], raw: str | bytes) -> Any:
    """A realtime server event, validated by the SDK's union; nothing the SDK lacks, no loss."""
    data = json.loads(raw)
    if data.get("type") == "transcription_session.created":
        # OpenAI sends it (SPEC), the SDK's beta union lacks it: judge it by its twin
        event = TranscriptionSessionUpdatedEvent.model_validate(
            {**data, "type": "transcription_session.updated"}
        )
        assert sdk_extras(event) == set(), data
        assert event.model_dump(mode="json", exclude_unset=True) == {
            **data,
            "type": "transcription_session.updated",
        }
        return event.model_copy(update={"type": data["type"]})
    event = adapter.validate_python(data)
    assert event.type == data["type"]
    unknown = sdk_extras(event) - SESSION_SERVER_FIELDS
    assert not unknown, f"{data['type']}: fields the SDK does not define: {unknown}"
    assert event.model_dump(mode="json", exclude_unset=True) == data
    return event


def strict_model(obj: SDKModel, adapter: TypeAdapter[Any] | None = None) -> None:
    """A REST answer or stream event (as the SDK built it) that its own type validates."""
    sent = obj.model_dump(mode="json", exclude_unset=True)
    again = adapter.validate_python(sent) if adapter else type(obj).model_validate(sent)
    assert type(again) is type(obj)
    unknown = sdk_extras(again) - VERBOSE_SERVER_FIELDS
    assert not unknown, f"{type(obj).__name__}: fields the SDK does not define: {unknown}"
    assert again.model_dump(mode="json", exclude_unset=True) == sent


# --- the server and the audio ----------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    url: str
    key: str

    def client(self) -> OpenAI:
        return OpenAI(base_url=f"{self.url}/v1", api_key=self.key, max_retries=0, timeout=120)

    def async_client(self) -> AsyncOpenAI:
        # the beta client builds wss:// from base_url; websocket_base_url is the documented
        # override (the GA client derives ws:// from http:// by itself)
        return AsyncOpenAI(
            base_url=f"{self.url}/v1",
            websocket_base_url=self.url.replace("http", "ws", 1) + "/v1",
            api_key=self.key,
            max_retries=0,
        )


@pytest.fixture(scope="module")
def engines() -> Engines:
    return load_engines(Settings())


@pytest.fixture(scope="module")
def live(engines, tmp_path_factory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("voxgate-data")
    settings = Settings(data_dir=data, responder="say", batch_workers=0)
    with LiveServer(create_app(settings, engines=engines)) as server:
        yield Live(server.url, KeyStore(settings.database_path).create("openai-python")[1])


@pytest.fixture(scope="module")
def reference(testdata) -> str:
    return (testdata / CLIP).with_suffix(".txt").read_text().strip()


def pcm24(testdata, *, tail_s: float) -> bytes:
    """:data:`CLIP` as pcm16 24 kHz, then ``tail_s`` of silence."""
    audio = resample(load_pcm(testdata / CLIP), 16_000, RATE)
    return np.concatenate([audio, np.zeros(int(RATE * tail_s), np.int16)]).tobytes()


async def append(conn: Any, payload: bytes) -> None:
    """``input_audio_buffer.append`` in 40 ms chunks, as fast as the socket takes them."""
    for at in range(0, len(payload), CHUNK):
        await conn.input_audio_buffer.append(
            audio=base64.b64encode(payload[at : at + CHUNK]).decode()
        )


async def until(conn: Any, adapter: TypeAdapter[Any], last: str, seen: list[Any]) -> Any:
    """Strictly checked events into ``seen`` up to the first of type ``last``; no errors."""
    while True:
        event = strict_event(adapter, await asyncio.wait_for(conn.recv_bytes(), EVENT_TIMEOUT_S))
        seen.append(event)
        assert event.type != "error", event.error
        if event.type == last:
            return event


def heard(engines: Engines, pcm16k: np.ndarray) -> str:
    return engines.asr.transcribe(pcm16k, ASROptions(language="en")).text


def pcm24_to_16k(audio: bytes) -> np.ndarray:
    return resample(np.frombuffer(audio, "<i2"), RATE, 16_000)


# --- realtime ----------------------------------------------------------------------------


@pytest.mark.compat("openai (Python SDK)", "GA realtime over WebSocket")
async def test_ga_realtime_session_transcribes_and_speaks(live, engines, testdata, reference):
    seen: list[Any] = []
    async with live.async_client().realtime.connect(model="gpt-realtime") as conn:
        created = await until(conn, GA, "session.created", seen)
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {"transcription": {"model": "whisper-1"}, "turn_detection": None},
                    "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "alloy"},
                },
            }
        )
        updated = await until(conn, GA, "session.updated", seen)
        await append(conn, pcm24(testdata, tail_s=0.2))
        await conn.input_audio_buffer.commit()
        committed = await until(conn, GA, "input_audio_buffer.committed", seen)
        final = await until(conn, GA, "conversation.item.input_audio_transcription.completed", seen)
        await conn.response.create(response={"voxgate": {"say": SAY}})
        done = await until(conn, GA, "response.done", seen)
    assert created.session.type == "realtime" and updated.session.type == "realtime"
    assert updated.session.audio.input.transcription.model == "whisper-1"
    assert updated.session.audio.input.turn_detection is None
    assert final.item_id == committed.item_id
    assert wer(reference, final.transcript) <= 0.15, final.transcript
    assert done.response.status == "completed"
    (message,) = done.response.output
    assert (message.role, message.content[0].transcript) == ("assistant", SAY)
    audio = b"".join(
        base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta"
    )
    assert 1.0 < len(audio) / 2 / RATE < 6.0
    assert wer(SAY, heard(engines, pcm24_to_16k(audio))) <= 0.15


@pytest.mark.compat("openai (Python SDK)", "beta realtime dialect")
async def test_beta_realtime_session_transcribes_and_speaks(live, engines, testdata, reference):
    seen: list[Any] = []
    client = live.async_client()
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await until(conn, BETA, "session.created", seen)
        await conn.session.update(
            session={
                "modalities": ["text", "audio"],
                "voice": "alloy",
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "input_audio_transcription": {"model": "whisper-1"},
                "turn_detection": None,
            }
        )
        updated = await until(conn, BETA, "session.updated", seen)
        await append(conn, pcm24(testdata, tail_s=0.2))
        await conn.input_audio_buffer.commit()
        await until(conn, BETA, "conversation.item.created", seen)
        final = await until(
            conn, BETA, "conversation.item.input_audio_transcription.completed", seen
        )
        await conn.response.create(response={"voxgate": {"say": SAY}})
        done = await until(conn, BETA, "response.done", seen)
    assert updated.session.input_audio_transcription.model == "whisper-1"
    assert wer(reference, final.transcript) <= 0.15, final.transcript
    assert done.response.status == "completed"
    transcript = [e.transcript for e in seen if e.type == "response.audio_transcript.done"]
    assert transcript == [SAY]
    audio = b"".join(base64.b64decode(e.delta) for e in seen if e.type == "response.audio.delta")
    assert wer(SAY, heard(engines, pcm24_to_16k(audio))) <= 0.15
    ga_only = {"conversation.item.added", "response.output_audio.delta"}
    assert not ga_only & {e.type for e in seen}


@pytest.mark.compat("openai (Python SDK)", "realtime transcription session")
@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_transcription_session(live, testdata, reference, dialect):
    vad = {"type": "server_vad", "silence_duration_ms": 500}
    client = live.async_client()
    intent = {"intent": "transcription"}
    if dialect == "ga":
        manager = client.realtime.connect(extra_query=intent)
        adapter = GA
    else:
        manager = client.beta.realtime.connect(model="gpt-4o-transcribe", extra_query=intent)
        adapter = BETA
    seen: list[Any] = []
    async with manager as conn:
        first = strict_event(adapter, await asyncio.wait_for(conn.recv_bytes(), EVENT_TIMEOUT_S))
        seen.append(first)
        if dialect == "ga":
            await conn.session.update(
                session={
                    "type": "transcription",
                    "audio": {
                        "input": {
                            "transcription": {"model": "whisper-1", "language": "en"},
                            "turn_detection": vad,
                        }
                    },
                }
            )
            updated = await until(conn, adapter, "session.updated", seen)
            assert updated.session.type == "transcription"
        else:
            await conn.transcription_session.update(
                session={
                    "input_audio_format": "pcm16",
                    "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                    "turn_detection": vad,
                }
            )
            updated = await until(conn, adapter, "transcription_session.updated", seen)
            assert updated.session.input_audio_transcription.model == "whisper-1"
        await append(conn, pcm24(testdata, tail_s=1.5))
        committed = await until(conn, adapter, "input_audio_buffer.committed", seen)
        final = await until(
            conn, adapter, "conversation.item.input_audio_transcription.completed", seen
        )
    expected_first = "session.created" if dialect == "ga" else "transcription_session.created"
    assert first.type == expected_first
    assert final.item_id == committed.item_id
    assert wer(reference, final.transcript) <= 0.15, final.transcript
    assert "input_audio_buffer.speech_started" in [e.type for e in seen]
    assert not any(e.type.startswith("response.") for e in seen)


# --- audio.transcriptions, audio.translations ---------------------------------------------


def transcribe(live: Live, testdata, **params: Any) -> Any:
    with (testdata / CLIP).open("rb") as f:
        return live.client().audio.transcriptions.create(file=f, **params)


def cue_times(text: str, decimal: str) -> list[tuple[float, float]]:
    """(start, end) seconds of every cue of an SRT (``decimal`` ``,``) or WebVTT (``.``) text."""
    stamp = rf"(\d\d):(\d\d):(\d\d){re.escape(decimal)}(\d\d\d)"
    timing = re.compile(f"{stamp} --> {stamp}")
    cues = []
    for line in text.splitlines():
        if "-->" in line:
            match = timing.fullmatch(line.strip())
            assert match, line
            h1, m1, s1, f1, h2, m2, s2, f2 = map(int, match.groups())
            cues.append(
                (3600 * h1 + 60 * m1 + s1 + f1 / 1000, 3600 * h2 + 60 * m2 + s2 + f2 / 1000)
            )
    return cues


def cue_text(text: str) -> str:
    """The words of an SRT or WebVTT text: no header, cue numbers or timings."""
    lines = [line.strip() for line in text.splitlines()]
    return " ".join(
        line
        for line in lines
        if line and line != "WEBVTT" and "-->" not in line and not line.isdigit()
    )


@pytest.mark.compat(
    "openai (Python SDK)", "audio.transcriptions: json, text, srt, vtt, verbose_json, diarized_json"
)
@pytest.mark.parametrize(("fmt", "decimal"), [("text", None), ("srt", ","), ("vtt", ".")])
def test_transcription_as_text_srt_and_vtt(live, testdata, reference, fmt, decimal):
    result = transcribe(live, testdata, model="whisper-1", response_format=fmt)
    assert isinstance(result, str)
    assert result.startswith("WEBVTT\n") == (fmt == "vtt")
    if decimal is None:
        assert "-->" not in result
        assert wer(reference, result) <= 0.15, result
        return
    cues = cue_times(result, decimal)
    assert cues and all(0 <= start < end <= CLIP_S + 0.1 for start, end in cues), cues
    assert wer(reference, cue_text(result)) <= 0.15, result


@pytest.mark.compat(
    "openai (Python SDK)", "audio.transcriptions: json, text, srt, vtt, verbose_json, diarized_json"
)
def test_transcription_as_json(live, testdata, reference):
    result = transcribe(live, testdata, model="whisper-1")
    strict_model(result)
    assert type(result).__name__ == "Transcription"
    assert wer(reference, result.text) <= 0.15, result.text
    assert result.usage.type == "duration"
    assert result.usage.seconds == pytest.approx(CLIP_S, abs=0.05)


@pytest.mark.compat(
    "openai (Python SDK)", "audio.transcriptions: json, text, srt, vtt, verbose_json, diarized_json"
)
def test_transcription_as_verbose_json_with_word_timestamps(live, testdata, reference):
    result = transcribe(
        live,
        testdata,
        model="whisper-1",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    strict_model(result)
    assert type(result).__name__ == "TranscriptionVerbose"
    assert wer(reference, result.text) <= 0.15, result.text
    assert result.duration == pytest.approx(CLIP_S, abs=0.05)
    words = result.words
    assert [w.word.strip(".,").lower() for w in words] == reference.lower().split()
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert all(0 <= w.start <= w.end <= CLIP_S + 0.05 for w in words)
    assert result.segments and " ".join(s.text.strip() for s in result.segments) == result.text
    assert result.language == "english"  # named, as whisper-1 names it


@pytest.mark.compat(
    "openai (Python SDK)", "audio.transcriptions: json, text, srt, vtt, verbose_json, diarized_json"
)
def test_transcription_as_diarized_json(live, testdata, reference):
    result = transcribe(
        live,
        testdata,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy="auto",
    )
    strict_model(result)
    assert type(result).__name__ == "TranscriptionDiarized"
    assert wer(reference, result.text) <= 0.15, result.text
    assert {s.speaker for s in result.segments} == {"A"}  # one voice
    assert result.text == " ".join(s.text for s in result.segments)


@pytest.mark.compat("openai (Python SDK)", "audio.transcriptions: stream=True")
def test_streamed_transcription_events(live, testdata, reference):
    events = list(transcribe(live, testdata, model="gpt-4o-transcribe", stream=True))
    for event in events:
        strict_model(event, STREAM_EVENTS)
    *deltas, done = events
    assert deltas and {e.type for e in deltas} == {"transcript.text.delta"}
    assert done.type == "transcript.text.done"
    assert "".join(e.delta for e in deltas) == done.text
    assert wer(reference, done.text) <= 0.15, done.text


@pytest.mark.compat("openai (Python SDK)", "audio.transcriptions: stream=True")
@pytest.mark.compat(
    "openai (Python SDK)", "audio.transcriptions: json, text, srt, vtt, verbose_json, diarized_json"
)
def test_transcription_mistakes_are_clear_400s(live, testdata):
    with pytest.raises(openai.BadRequestError) as unstreamable:
        transcribe(live, testdata, model="gpt-4o-transcribe", response_format="srt", stream=True)
    assert unstreamable.value.param == "response_format"
    assert "cannot be streamed" in unstreamable.value.message
    with pytest.raises(openai.BadRequestError) as unknown:
        transcribe(live, testdata, model="whisper-1", response_format="xml")
    assert unknown.value.param == "response_format"


@pytest.mark.compat("openai (Python SDK)", "audio.translations")
@TRANSLATIONS_DEPRECATED
def test_translations(live, testdata, reference):
    with (testdata / CLIP).open("rb") as f:
        plain = live.client().audio.translations.create(file=f, model="whisper-1")
    with (testdata / CLIP).open("rb") as f:
        verbose = live.client().audio.translations.create(
            file=f, model="whisper-1", response_format="verbose_json"
        )
    for result in (plain, verbose):
        strict_model(result)
        assert wer(reference, result.text) <= 0.15, result.text  # English stays English
    assert verbose.task == "translate" and verbose.language == "english" and verbose.segments


# --- audio.speech --------------------------------------------------------------------------


DECODED_AS = {  # (codec, container) as FFmpeg reads the bytes
    "mp3": ("mp3", "mp3"),
    "opus": ("opus", "ogg"),
    "aac": ("aac", "aac"),  # ADTS
    "flac": ("flac", "flac"),
    "wav": ("pcm_s16le", "wav"),
}


@pytest.mark.compat("openai (Python SDK)", "audio.speech: mp3, opus, aac, flac, wav, pcm")
@pytest.mark.parametrize("fmt", SPEECH_FORMATS)
def test_speech_in_every_response_format(live, engines, fmt):
    data = (
        live.client()
        .audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=SAY, response_format=fmt)
        .read()
    )
    if fmt == "pcm":  # raw 16-bit mono 24 kHz, no header
        pcm = pcm24_to_16k(data)
    else:
        decoded = decode_file(data)
        assert (decoded.codec, decoded.container) == DECODED_AS[fmt]
        pcm = decoded.samples
    assert 1.0 < len(pcm) / 16_000 < 6.0
    assert wer(SAY, heard(engines, pcm)) <= 0.15


@pytest.mark.compat("openai (Python SDK)", "audio.speech: mp3, opus, aac, flac, wav, pcm")
def test_speech_in_an_unsupported_format_is_a_clear_400(live):
    with pytest.raises(openai.BadRequestError) as caught:
        live.client().audio.speech.create(
            model="tts-1", voice="alloy", input=SAY, response_format="ogg"
        )
    assert caught.value.status_code == 400 and caught.value.param == "response_format"
    assert all(fmt in caught.value.message for fmt in SPEECH_FORMATS), caught.value.message
