"""Transcripts of user audio items: partials, finals with their extras, failures.

Each user turn is, from its start to its final (a ``session.update`` applies from the next
turn, :meth:`Transcriptions.start`):

* transcribed for the client: ``conversation.item.input_audio_transcription.*`` events (and
  the voxgate extras asked for), then ``conversation.item.done`` with the transcript;
* transcribed for the responder only (transcription off, but the responder reads
  transcripts): audio and final decoded, no partials, nothing of the text sent; the reply
  request carries the transcript;
* not transcribed (transcription off and nobody reads it): no ASR command at all.

In the last two cases ``conversation.item.done`` follows ``conversation.item.added`` at the
commit, with ``transcript`` null. ``include: ["item.input_audio_transcription.logprobs"]``
adds the final's token logprobs to ``completed``; the session refuses it when the ASR engine
cannot give them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Pending:
    """A committed item whose final transcript is on its way.

    Attributes:
        seconds: Its audio's length.
        shown: Its transcription events go to the client (else only the responder reads it).
    """

    seconds: float
    shown: bool


class Transcriptions:
    """The user items being transcribed, and the events their results become.

    Args:
        outbox: Where events go.
        conversation: Where finished transcripts are stored.
        extras: The session's opt-in transcription extras, as they are now.
        logprobs: The session asks for token logprobs on ``completed`` (``include``).
    """

    def __init__(
        self,
        outbox: Outbox,
        conversation: Conversation,
        extras: Callable[[], VoxgateTranscriptionOptions],
        logprobs: Callable[[], bool],
    ) -> None:
        self._out = outbox
        self._conversation = conversation
        self._extras = extras
        self._logprobs = logprobs
        self._utterance: tuple[str, bool] | None = None  # (item id, shown) being transcribed
        self._pending: dict[str, Pending] = {}

    def pending(self, item_id: str | None) -> bool:
        """The final transcript of ``item_id`` is still to come."""
        return item_id in self._pending

    def start(self, item_id: str, *, shown: bool) -> None:
        """Utterance ``item_id`` begins to be transcribed, for the client if ``shown``."""
        self._utterance = (item_id, shown)

    def commit(self, item_id: str, seconds: float) -> Pending | None:
        """Item ``item_id`` (``seconds`` of audio) is committed: its final is on its way.

        Returns:
            How it is transcribed; None when it is not (no :meth:`start` for it).
        """
        if self._utterance is None or self._utterance[0] != item_id:
            return None
        pending = Pending(seconds, shown=self._utterance[1])
        self._utterance = None
        self._pending[item_id] = pending
        return pending

    def _shown(self, item_id: str, *, live: bool) -> bool:
        if live:
            return self._utterance == (item_id, True)
        pending = self._pending.get(item_id)
        return pending is not None and pending.shown

    def receive_delta(self, item_id: str, delta: TranscriptDelta, *, live: bool) -> None:
        """An append-only partial for a committed item, or (``live``) the turn in progress.

        Sent only for an utterance transcribed for the client.
        """
        if self._shown(item_id, live=live):
            self._out.send(
                ev.InputAudioTranscriptionDelta(
                    event_id=self._out.event_id(), item_id=item_id, delta=delta.text
                )
            )

    def receive_final(
        self, item_id: str, transcript: Transcript, annotation: Annotation | None
    ) -> bool:
        """The final transcript, with the extras the session asked for; False if unwanted.

        For an utterance transcribed only for the responder, nothing is sent: the text is
        kept in the conversation's responder view. Otherwise the ``completed`` event carries
        the transcript, its duration usage, and (``include`` asks for
        ``item.input_audio_transcription.logprobs``) the tokens' logprobs, as the engine gave
        them (null when it gave none); ``conversation.item.done`` follows.

        With an annotation (opt-in options in ``extras``): a ``…transcription.segment``
        event carries the speaker (``speaker_segments``), ``voxgate.…audio_tag`` events the
        non-speech sounds (``audio_tag_events``), and the ``completed`` transcript has the
        tags and prosody marks inline (``non_speech_tags``) plus the ``voxgate`` annotation.
        """
        pending = self._pending.pop(item_id, None)
        if pending is None:
            return False  # cleared or deleted meanwhile
        if not pending.shown:
            self._conversation.keep_for_responder(item_id, transcript.text)
            return True
        text, extension = transcript.text, None
        if annotation is not None:
            text, extension = self._annotate(item_id, transcript, annotation)
        self._out.send(
            ev.InputAudioTranscriptionCompleted(
                event_id=self._out.event_id(),
                item_id=item_id,
                transcript=text,
                usage=ev.TranscriptionDurationUsage(seconds=round(pending.seconds, 3)),
                logprobs=self._logprobs_of(transcript),
                voxgate=extension,
            )
        )
        self._conversation.complete_transcript(item_id, text)
        return True

    def _logprobs_of(self, transcript: Transcript) -> list[ev.LogProb] | None:
        """The ``logprobs`` field: the transcript's tokens when included, else None."""
        if not self._logprobs() or transcript.logprobs is None:
            return None
        return [
            ev.LogProb(token=t.token, logprob=t.logprob, bytes=list(t.bytes))
            for t in transcript.logprobs
        ]

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
        """Transcription of a user item failed; False if the item was no longer wanted.

        ``…transcription.failed`` is sent only for an utterance transcribed for the client.
        """
        pending = self._pending.pop(item_id, None)
        if pending is None:
            return False
        if not pending.shown:
            return True
        error = ev.TranscriptionError(
            type=ErrorType.TRANSCRIPTION, code=ErrorCode.AUDIO_UNINTELLIGIBLE, message=message
        )
        self._out.send(
            ev.InputAudioTranscriptionFailed(
                event_id=self._out.event_id(), item_id=item_id, error=error
            )
        )
        return True
