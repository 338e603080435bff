"""voxgate's opt-in protocol extensions: one option object and one event, clearly namespaced.

Stock OpenAI clients never see anything here unless they opt in:

* **Response option** — ``response.voxgate`` (:class:`VoxgateResponseOptions`) in a
  ``response.create``: ``{"say": "text"}`` speaks the text verbatim, whatever the responder.

* **Option** — ``audio.input.transcription.voxgate`` (:class:`VoxgateTranscriptionOptions`)
  in a ``session.update`` (GA) or ``input_audio_transcription.voxgate``
  (beta). It is echoed in ``session.updated`` *only when the client set it*; otherwise the
  key is absent, so the session object stays exactly OpenAI's.
* **Event** — types starting with :data:`EXTENSION_PREFIX` (``voxgate.``). The session emits
  them only when the matching option is on.

Things that need no extension, because the GA protocol already carries them (reference
§7, §15.10): speaker labels travel in the standard
``conversation.item.input_audio_transcription.segment`` event (``speaker`` field, as
``gpt-4o-transcribe-diarize`` sends them), and non-speech tags travel inline in the
transcript text (``"so [laugh] anyway"``) so unmodified clients display them.

Example (GA)::

    {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "whisper-1",
                          "voxgate": {"non_speech_tags": true, "speaker_segments": true}}}}}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from protocol._base import EventModel

__all__ = [
    "EXTENSION_PREFIX",
    "AudioTagEvent",
    "TranscriptAnnotation",
    "VoxgateResponseOptions",
    "VoxgateTranscriptionOptions",
]

EXTENSION_PREFIX = "voxgate."
"""Every extension event type starts with this; no OpenAI event does."""


class VoxgateResponseOptions(EventModel):
    """Opt-in response extras, under ``response.voxgate`` of ``response.create``."""

    say: str | None = None
    """Speak exactly this text (no language model is asked): the response is an assistant
    message with this text, spoken by the session's voice. For telephony bridges and agents
    that bring their own LLM, with any ``responder``."""


class VoxgateTranscriptionOptions(EventModel):
    """Opt-in transcription extras, under ``audio.input.transcription.voxgate``.

    Omitted fields keep their defaults (all off). Partial updates merge like the rest of
    the session: sending ``{"voxgate": {"speaker_segments": true}}`` leaves
    ``non_speech_tags`` as it was.
    """

    non_speech_tags: bool = False
    """Write non-speech events inline into transcripts as bracketed tags (``[laugh]``,
    ``[breath]``, ``[cough]``, ``[pause]`` …), in deltas and in ``completed``."""
    speaker_segments: bool = False
    """Emit ``conversation.item.input_audio_transcription.segment`` events with a
    ``speaker`` label per segment (as OpenAI does for ``gpt-4o-transcribe-diarize``)."""
    audio_tag_events: bool = False
    """Emit :class:`AudioTagEvent` (``voxgate.input_audio_buffer.audio_tag``) for each
    non-speech sound the tagger detects, with its score and timing."""


class AudioTagEvent(EventModel):
    """A non-speech sound detected in the input audio (extension; needs ``audio_tag_events``).

    Times are on the same session-cumulative millisecond timeline as
    ``input_audio_buffer.speech_started.audio_start_ms``.
    """

    type: Literal["voxgate.input_audio_buffer.audio_tag"] = "voxgate.input_audio_buffer.audio_tag"
    event_id: str
    """Server event id, assigned by the session."""
    item_id: str | None
    """The user item whose audio contains the sound, or ``None`` outside any utterance."""
    label: str
    """Tag name as it appears inline in transcripts, without brackets (``laugh``, ``music`` …)."""
    score: float = Field(ge=0.0, le=1.0)
    """Tagger confidence."""
    audio_start_ms: int = Field(ge=0)
    """Start, in ms since the session's first input audio."""
    audio_end_ms: int = Field(ge=0)
    """End, in ms since the session's first input audio."""


class TranscriptAnnotation(EventModel):
    """voxgate's extension of ``conversation.item.input_audio_transcription.completed``.

    Sent as the event's ``voxgate`` field only when the session turned on
    ``speaker_segments`` or ``non_speech_tags``; stock clients never see it (and the
    OpenAI SDK's types accept it as an extra field when they do).
    """

    speaker: str | None = None
    """The item's speaker (``"0"``, ``"1"``, … in order of first appearance in the session;
    the same label as its ``.segment`` events), when ``speaker_segments`` is on."""
    plain_transcript: str | None = None
    """The transcript without inline tags and prosody marks, when ``non_speech_tags`` is on
    (``transcript`` then carries them)."""
