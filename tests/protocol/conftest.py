"""Representative protocol events, and a recorder of what the openai SDK puts on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import (
    AssistantMessage,
    AudioInput,
    AudioPCM,
    AudioPCMU,
    AudioTagEvent,
    AudioTranscription,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    ErrorDetail,
    FunctionCall,
    FunctionCallOutput,
    InputAudio,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    InputText,
    NoiseReduction,
    OutputAudio,
    OutputAudioBufferClear,
    OutputText,
    RealtimeAudio,
    RealtimeSession,
    ResponseCancel,
    ResponseCreate,
    ResponseCreateParams,
    SemanticVad,
    ServerVad,
    SessionUpdate,
    SystemMessage,
    TranscriptionAudio,
    TranscriptionSession,
    UserMessage,
)
from protocol import server_events as se
from protocol.client_events import ResponseAudioOutputParams, ResponseAudioParams
from protocol.items import ContentPart, ItemReference
from protocol.session import AudioOutput, FunctionTool

EID = "event_C9G5RJeJ2gF77mV7f2B1j"
IDS = {"response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0}


def realtime_session() -> RealtimeSession:
    return RealtimeSession(id="sess_1", model="gpt-realtime", expires_at=1_756_000_000)


def transcription_session() -> TranscriptionSession:
    return TranscriptionSession(id="sess_2", expires_at=1_756_000_000)


USER_AUDIO = UserMessage(id="item_1", status="completed", content=[InputAudio(transcript=None)])
USER_TEXT = UserMessage(id="item_3", status="completed", content=[InputText(text="Hi there")])
SYSTEM = SystemMessage(id="item_4", status="completed", content=[InputText(text="Be brief.")])
ASSISTANT_STARTED = AssistantMessage(id="item_2", status="in_progress", content=[])
ASSISTANT_AUDIO = AssistantMessage(
    id="item_2", status="completed", content=[OutputAudio(transcript="Hello.")]
)
ASSISTANT_TEXT = AssistantMessage(
    id="item_5", status="completed", content=[OutputText(text="Hello in text.")]
)
CALL = FunctionCall(
    id="item_6", status="completed", call_id="call_1", name="lookup", arguments='{"q": 1}'
)
CALL_OUTPUT = FunctionCallOutput(id="item_7", status="completed", call_id="call_1", output="42")
ALL_ITEMS = [USER_AUDIO, USER_TEXT, SYSTEM, ASSISTANT_STARTED, ASSISTANT_AUDIO, ASSISTANT_TEXT]
ALL_ITEMS += [CALL, CALL_OUTPUT]

RESPONSE_AUDIO = se.ResponseAudio(
    output=se.ResponseAudioOutput(format=AudioPCM(), voice="marin"),
)


def server_samples() -> list[tuple[str, Any]]:
    """``(label, event)`` pairs covering every server event type at least once."""
    s: list[tuple[str, Any]] = []
    s.append(
        (
            "error",
            se.ErrorEvent(
                event_id=EID,
                error=ErrorDetail(
                    type="invalid_request_error",
                    code="invalid_event",
                    message="The 'type' field is missing.",
                    event_id="evt_client_1",
                ),
            ),
        )
    )
    s.append(("session.created", se.SessionCreated(event_id=EID, session=realtime_session())))
    s.append(
        (
            "session.created/transcription",
            se.SessionCreated(event_id=EID, session=transcription_session()),
        )
    )
    custom = realtime_session().model_copy(
        update={
            "instructions": "Speak slowly.",
            "output_modalities": ["text"],
            "tools": [FunctionTool(name="lookup", parameters={"type": "object"})],
            "audio": RealtimeAudio(
                input=AudioInput(
                    format=AudioPCMU(),
                    transcription=AudioTranscription(model="whisper-1", language="en"),
                    noise_reduction=NoiseReduction(type="near_field"),
                    turn_detection=SemanticVad(eagerness="high"),
                ),
                output=AudioOutput(format=AudioPCMU(), voice="alloy", speed=1.25),
            ),
        }
    )
    s.append(("session.updated", se.SessionUpdated(event_id=EID, session=custom)))
    manual = transcription_session().model_copy(
        update={
            "audio": TranscriptionAudio(
                input=AudioInput(
                    transcription=AudioTranscription(model="gpt-4o-transcribe", prompt=""),
                    turn_detection=None,
                )
            )
        }
    )
    s.append(("session.updated/transcription", se.SessionUpdated(event_id=EID, session=manual)))
    s.append(
        (
            "conversation.created",
            se.ConversationCreated(event_id=EID, conversation=se.Conversation(id="conv_1")),
        )
    )
    for i, item in enumerate(ALL_ITEMS):
        prev = None if i == 0 else "item_0"
        s.append(
            (
                f"conversation.item.added/{i}",
                se.ConversationItemAdded(event_id=EID, previous_item_id=prev, item=item),
            )
        )
        s.append(
            (
                f"conversation.item.created/{i}",
                se.ConversationItemCreated(event_id=EID, previous_item_id=prev, item=item),
            )
        )
    s.append(
        (
            "conversation.item.done",
            se.ConversationItemDone(event_id=EID, previous_item_id="item_1", item=ASSISTANT_AUDIO),
        )
    )
    retrieved = UserMessage(
        id="item_1", status="completed", content=[InputAudio(audio="AAAA", transcript="hi")]
    )
    s.append(
        ("conversation.item.retrieved", se.ConversationItemRetrieved(event_id=EID, item=retrieved))
    )
    s.append(
        (
            "conversation.item.deleted",
            se.ConversationItemDeleted(event_id=EID, item_id="item_1"),
        )
    )
    s.append(
        (
            "conversation.item.truncated",
            se.ConversationItemTruncated(
                event_id=EID, item_id="item_2", content_index=0, audio_end_ms=1500
            ),
        )
    )
    s.append(
        (
            "input_audio_buffer.committed",
            se.InputAudioBufferCommitted(event_id=EID, previous_item_id=None, item_id="item_1"),
        )
    )
    s.append(("input_audio_buffer.cleared", se.InputAudioBufferCleared(event_id=EID)))
    s.append(
        (
            "input_audio_buffer.speech_started",
            se.InputAudioBufferSpeechStarted(event_id=EID, audio_start_ms=1000, item_id="item_1"),
        )
    )
    s.append(
        (
            "input_audio_buffer.speech_stopped",
            se.InputAudioBufferSpeechStopped(event_id=EID, audio_end_ms=2500, item_id="item_1"),
        )
    )
    s.append(
        (
            "input_audio_buffer.timeout_triggered",
            se.InputAudioBufferTimeoutTriggered(
                event_id=EID, audio_start_ms=3000, audio_end_ms=9000, item_id="item_8"
            ),
        )
    )
    logprobs = [se.LogProb(token="hi", bytes=[104, 105], logprob=-0.1)]
    s.append(
        (
            "conversation.item.input_audio_transcription.delta",
            se.InputAudioTranscriptionDelta(
                event_id=EID, item_id="item_1", delta="And so", logprobs=logprobs
            ),
        )
    )
    s.append(
        (
            "conversation.item.input_audio_transcription.completed",
            se.InputAudioTranscriptionCompleted(
                event_id=EID,
                item_id="item_1",
                transcript="And so [laugh] my fellow Americans",
                usage=se.TranscriptionDurationUsage(seconds=2.5),
            ),
        )
    )
    s.append(
        (
            "conversation.item.input_audio_transcription.completed/tokens",
            se.InputAudioTranscriptionCompleted(
                event_id=EID,
                item_id="item_1",
                transcript="hi",
                usage=se.TranscriptionTokenUsage(
                    input_tokens=10,
                    output_tokens=2,
                    total_tokens=12,
                    input_token_details=se.TranscriptionTokenDetails(audio_tokens=10),
                ),
                logprobs=logprobs,
            ),
        )
    )
    s.append(
        (
            "conversation.item.input_audio_transcription.failed",
            se.InputAudioTranscriptionFailed(
                event_id=EID,
                item_id="item_1",
                error=se.TranscriptionError(
                    type="transcription_error",
                    code="audio_unintelligible",
                    message="The audio could not be transcribed.",
                ),
            ),
        )
    )
    s.append(
        (
            "conversation.item.input_audio_transcription.segment",
            se.InputAudioTranscriptionSegment(
                event_id=EID,
                item_id="item_1",
                id="seg_0001",
                text="Hello",
                speaker="spk_1",
                start=0.0,
                end=0.4,
            ),
        )
    )
    started = se.Response(id="resp_1", status="in_progress", conversation_id="conv_1")
    started = started.model_copy(update={"audio": RESPONSE_AUDIO})
    s.append(("response.created", se.ResponseCreated(event_id=EID, response=started)))
    done = se.Response(
        id="resp_1",
        status="completed",
        status_details=se.ResponseStatusDetails(type="completed"),
        output=[ASSISTANT_AUDIO],
        conversation_id="conv_1",
        audio=RESPONSE_AUDIO,
        metadata={"turn": "1"},
        usage=se.Usage(
            total_tokens=30,
            input_tokens=10,
            output_tokens=20,
            input_token_details=se.InputTokenDetails(text_tokens=10),
            output_token_details=se.OutputTokenDetails(text_tokens=5, audio_tokens=15),
        ),
    )
    s.append(("response.done", se.ResponseDone(event_id=EID, response=done)))
    cancelled = se.Response(
        id="resp_2",
        status="cancelled",
        status_details=se.ResponseStatusDetails(type="cancelled", reason="turn_detected"),
        output=[],
        conversation_id=None,
        output_modalities=["text"],
        max_output_tokens=256,
        usage=se.Usage(),
    )
    s.append(("response.done/cancelled", se.ResponseDone(event_id=EID, response=cancelled)))
    failed = se.Response(
        id="resp_3",
        status="failed",
        status_details=se.ResponseStatusDetails(
            type="failed",
            error=se.ResponseStatusError(type="server_error", code="engine_unavailable"),
        ),
        usage=se.Usage(),
    )
    s.append(("response.done/failed", se.ResponseDone(event_id=EID, response=failed)))
    ids = {"response_id": "resp_1", "output_index": 0}
    s.append(
        (
            "response.output_item.added",
            se.ResponseOutputItemAdded(event_id=EID, item=ASSISTANT_STARTED, **ids),
        )
    )
    s.append(
        (
            "response.output_item.done",
            se.ResponseOutputItemDone(event_id=EID, item=ASSISTANT_AUDIO, **ids),
        )
    )
    audio_part = ContentPart(type="audio", transcript="")
    s.append(
        (
            "response.content_part.added",
            se.ResponseContentPartAdded(event_id=EID, part=audio_part, **IDS),
        )
    )
    s.append(
        (
            "response.content_part.added/text",
            se.ResponseContentPartAdded(
                event_id=EID, part=ContentPart(type="text", text=""), **IDS
            ),
        )
    )
    s.append(
        (
            "response.content_part.done",
            se.ResponseContentPartDone(
                event_id=EID, part=ContentPart(type="audio", transcript="Hello."), **IDS
            ),
        )
    )
    s.append(
        (
            "response.output_audio.delta",
            se.ResponseOutputAudioDelta(event_id=EID, delta="AAAAAA==", **IDS),
        )
    )
    s.append(("response.output_audio.done", se.ResponseOutputAudioDone(event_id=EID, **IDS)))
    s.append(
        (
            "response.output_audio_transcript.delta",
            se.ResponseOutputAudioTranscriptDelta(event_id=EID, delta="Hel", **IDS),
        )
    )
    s.append(
        (
            "response.output_audio_transcript.done",
            se.ResponseOutputAudioTranscriptDone(event_id=EID, transcript="Hello.", **IDS),
        )
    )
    s.append(
        (
            "response.output_text.delta",
            se.ResponseOutputTextDelta(event_id=EID, delta="Hel", **IDS),
        )
    )
    s.append(
        (
            "response.output_text.done",
            se.ResponseOutputTextDone(event_id=EID, text="Hello.", **IDS),
        )
    )
    s.append(
        (
            "response.function_call_arguments.delta",
            se.ResponseFunctionCallArgumentsDelta(
                event_id=EID,
                response_id="resp_1",
                item_id="item_9",
                output_index=1,
                call_id="call_1",
                delta='{"city": ',
            ),
        )
    )
    s.append(
        (
            "response.function_call_arguments.done",
            se.ResponseFunctionCallArgumentsDone(
                event_id=EID,
                response_id="resp_1",
                item_id="item_9",
                output_index=1,
                call_id="call_1",
                name="get_weather",
                arguments='{"city": "Paris"}',
            ),
        )
    )
    s.append(
        (
            "rate_limits.updated",
            se.RateLimitsUpdated(
                event_id=EID,
                rate_limits=[
                    se.RateLimit(name="requests", limit=1000, remaining=999, reset_seconds=60),
                    se.RateLimit(name="tokens", limit=50000, remaining=49950, reset_seconds=60),
                ],
            ),
        )
    )
    s.append(
        (
            "output_audio_buffer.cleared",
            se.OutputAudioBufferCleared(event_id=EID, response_id="resp_1"),
        )
    )
    s.append(
        (
            "output_audio_buffer.started",
            se.OutputAudioBufferStarted(event_id=EID, response_id="resp_1"),
        )
    )
    s.append(
        (
            "output_audio_buffer.stopped",
            se.OutputAudioBufferStopped(event_id=EID, response_id="resp_1"),
        )
    )
    s.append(
        (
            "voxgate.input_audio_buffer.audio_tag",
            AudioTagEvent(
                event_id=EID,
                item_id="item_1",
                label="laugh",
                score=0.9,
                audio_start_ms=1200,
                audio_end_ms=1800,
            ),
        )
    )
    return s


def client_samples() -> list[tuple[str, Any]]:
    """``(label, event)`` pairs covering every client event type at least once."""
    return [
        (
            "session.update",
            SessionUpdate(
                event_id="evt_1",
                session=RealtimeSession(
                    instructions="Be brief.",
                    audio=RealtimeAudio(
                        input=AudioInput(
                            turn_detection=ServerVad(threshold=0.6, silence_duration_ms=700)
                        )
                    ),
                ),
            ),
        ),
        (
            "session.update/vad-off",
            SessionUpdate(
                session=RealtimeSession(audio=RealtimeAudio(input=AudioInput(turn_detection=None)))
            ),
        ),
        (
            "session.update/transcription",
            SessionUpdate(
                session=TranscriptionSession(
                    include=["item.input_audio_transcription.logprobs"],
                    audio=TranscriptionAudio(
                        input=AudioInput(
                            format=AudioPCMU(),
                            transcription=AudioTranscription(model="gpt-4o-transcribe"),
                        )
                    ),
                )
            ),
        ),
        ("input_audio_buffer.append", InputAudioBufferAppend(audio="AAAAAA==", event_id="evt_2")),
        ("input_audio_buffer.commit", InputAudioBufferCommit()),
        ("input_audio_buffer.clear", InputAudioBufferClear()),
        ("output_audio_buffer.clear", OutputAudioBufferClear()),
        (
            "conversation.item.create",
            ConversationItemCreate(
                item=UserMessage(content=[InputText(text="Hello")]), previous_item_id="root"
            ),
        ),
        (
            "conversation.item.create/assistant",
            ConversationItemCreate(item=AssistantMessage(content=[OutputText(text="Say this.")])),
        ),
        (
            "conversation.item.create/output",
            ConversationItemCreate(item=FunctionCallOutput(call_id="call_1", output="42")),
        ),
        ("conversation.item.retrieve", ConversationItemRetrieve(item_id="item_1")),
        ("conversation.item.delete", ConversationItemDelete(item_id="item_1")),
        (
            "conversation.item.truncate",
            ConversationItemTruncate(item_id="item_2", content_index=0, audio_end_ms=1500),
        ),
        ("response.create", ResponseCreate()),
        (
            "response.create/params",
            ResponseCreate(
                response=ResponseCreateParams(
                    conversation="none",
                    instructions="Read this aloud.",
                    output_modalities=["audio"],
                    audio=ResponseAudioParams(
                        output=ResponseAudioOutputParams(format=AudioPCMU(), voice="cedar")
                    ),
                    metadata={"purpose": "greeting"},
                    input=[ItemReference(id="item_1"), USER_TEXT],
                    max_output_tokens=200,
                )
            ),
        ),
        ("response.cancel", ResponseCancel(response_id="resp_1")),
    ]


SERVER_SAMPLES = server_samples()
CLIENT_SAMPLES = client_samples()


class RecordingSocket:
    """Stands in for a websocket under the SDK's connection objects; keeps what they send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, data: str | bytes) -> None:
        self.sent.append(data if isinstance(data, str) else data.decode())


@pytest.fixture
def ga_sdk() -> tuple[Any, RecordingSocket]:
    """A GA ``RealtimeConnection`` of the openai SDK whose frames are recorded."""
    from openai.resources.realtime.realtime import RealtimeConnection

    socket = RecordingSocket()
    return RealtimeConnection(socket), socket  # type: ignore[arg-type]


@pytest.fixture
def beta_sdk() -> tuple[Any, RecordingSocket]:
    """A beta ``RealtimeConnection`` of the openai SDK whose frames are recorded."""
    from openai.resources.beta.realtime.realtime import RealtimeConnection

    socket = RecordingSocket()
    return RealtimeConnection(socket), socket  # type: ignore[arg-type]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``server_sample`` / ``client_sample`` arguments over the samples above."""
    for name, samples in (("server_sample", SERVER_SAMPLES), ("client_sample", CLIENT_SAMPLES)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, [e for _, e in samples], ids=[label for label, _ in samples])


@pytest.fixture
def server_samples() -> list[tuple[str, Any]]:
    """Every server sample, labelled."""
    return SERVER_SAMPLES


@pytest.fixture
def client_samples() -> list[tuple[str, Any]]:
    """Every client sample, labelled."""
    return CLIENT_SAMPLES
