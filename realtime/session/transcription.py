"""Transcripts of user audio items: partials, finals with their extras, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engines.base import Transcript, TranscriptDelta
from protocol import (
    AudioTagEvent,
    ErrorCode,
    ErrorType,
    TranscriptAnnotation,
    VoxgateTranscriptionOptions,
)
from protocol import server_events as ev
from realtime.session.conversation import Conversation
from realtime.session.outbox import Outbox

if TYPE_CHECKING:
    from realtime.inference.annotation import Annotation


class Transcriptions:
    """The user items being transcribed, and the events their results become.

    Args:
        outbox: Where events go.
        conversation: Where finished transcripts are stored.
        extras: The session's opt-in transcription extras, as they are now.
    """

    def __init__(
        self,
        outbox: Outbox,
        conversation: Conversation,
        extras: Callable[[], VoxgateTranscriptionOptions],
    ) -> None:
        self._out = outbox
        self._conversation = conversation
        self._extras = extras
        self._pending: dict[str, float] = {}  # item id → audio seconds

    def pending(self, item_id: str | None) -> bool:
        """The final transcript of ``item_id`` is still to come."""
        return item_id in self._pending

    def begin(self, item_id: str, seconds: float) -> None:
        """A committed item's final transcript is on its way (``seconds`` of audio)."""
        self._pending[item_id] = seconds

    def receive_delta(self, item_id: str, delta: TranscriptDelta, *, live: bool) -> None:
        """An append-only partial for a committed item, or (``live``) the turn in progress."""
        if live or item_id in self._pending:
            self._out.send(
                ev.InputAudioTranscriptionDelta(
                    event_id=self._out.event_id(), item_id=item_id, delta=delta.text
                )
            )

    def receive_final(
        self, item_id: str, transcript: Transcript, annotation: Annotation | None
    ) -> bool:
        """The final transcript, with the extras the session asked for; False if unwanted.

        With an annotation (opt-in options in ``extras``): a ``…transcription.segment``
        event carries the speaker (``speaker_segments``), ``voxgate.…audio_tag`` events the
        non-speech sounds (``audio_tag_events``), and the ``completed`` transcript has the
        tags and prosody marks inline (``non_speech_tags``) plus the ``voxgate`` annotation.
        """
        seconds = self._pending.pop(item_id, None)
        if seconds is None:
            return False  # cleared or deleted meanwhile
        text, extension = transcript.text, None
        if annotation is not None:
            text, extension = self._annotate(item_id, transcript, annotation)
        self._out.send(
            ev.InputAudioTranscriptionCompleted(
                event_id=self._out.event_id(),
                item_id=item_id,
                transcript=text,
                usage=ev.TranscriptionDurationUsage(seconds=round(seconds, 3)),
                voxgate=extension,
            )
        )
        self._conversation.complete_transcript(item_id, text)
        return True

    def _annotate(
        self, item_id: str, transcript: Transcript, annotation: Annotation
    ) -> tuple[str, TranscriptAnnotation | None]:
        """Send the segment and tag events; the transcript text and its extension field."""
        extras = self._extras()
        text, plain = transcript.text, transcript.text
        if extras.non_speech_tags and annotation.text is not None:
            text, plain = annotation.text, annotation.plain_text or ""
        if extras.speaker_segments:
            self._send_segments(item_id, transcript, annotation)
        if extras.audio_tag_events:
            self._send_tags(item_id, annotation)
        if not (extras.speaker_segments or extras.non_speech_tags):
            return text, None
        return text, TranscriptAnnotation(
            speaker=annotation.speaker if extras.speaker_segments else None,
            plain_transcript=plain if extras.non_speech_tags else None,
        )

    def _send_segments(self, item_id: str, transcript: Transcript, annotation: Annotation) -> None:
        for segment in annotation.segments:
            self._out.send(
                ev.InputAudioTranscriptionSegment(
                    event_id=self._out.event_id(),
                    item_id=item_id,
                    id=self._out.ids("seg"),
                    text=segment.text,
                    speaker=segment.speaker,
                    start=round(max(0.0, segment.start - transcript.start), 3),
                    end=round(max(0.0, segment.end - transcript.start), 3),
                )
            )

    def _send_tags(self, item_id: str, annotation: Annotation) -> None:
        for tag in annotation.events:
            self._out.send(
                AudioTagEvent(
                    event_id=self._out.event_id(),
                    item_id=item_id,
                    label=tag.label,
                    score=min(max(float(tag.score), 0.0), 1.0),
                    audio_start_ms=max(0, round(tag.start * 1000)),
                    audio_end_ms=max(0, round(tag.end * 1000)),
                )
            )

    def receive_failure(self, item_id: str, message: str) -> bool:
        """Transcription of a user item failed; False if the item was no longer wanted."""
        if self._pending.pop(item_id, None) is None:
            return False
        error = ev.TranscriptionError(
            type=ErrorType.TRANSCRIPTION, code=ErrorCode.AUDIO_UNINTELLIGIBLE, message=message
        )
        self._out.send(
            ev.InputAudioTranscriptionFailed(
                event_id=self._out.event_id(), item_id=item_id, error=error
            )
        )
        return True
