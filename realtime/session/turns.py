"""Turn taking: VAD edges open and close user turns; manual commits; idle timeouts.

Also the partial cadence and speculative finals: during a user turn the transcriber gets the
turn's audio as VAD results arrive, a partial transcript is asked for after every
:data:`PARTIAL_EVERY_MS` of new audio, and when the VAD reports a PAUSE (the speaker has been
silent for a moment) the final is decoded ahead of time (``SpeculateFinal``); if the turn
then ends with no RESUME, its final reuses that decode. A turn nobody needs the text of
(``start_transcript`` says so) sends no transcriber command at all.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engines.base import SAMPLE_RATE, SpeechEdge, VADEvent, VADOptions
from protocol import ErrorCode, InvalidEvent, ServerVad
from protocol import server_events as ev
from realtime.session.audio_input import InputTimeline
from realtime.session.commands import (
    CancelTranscript,
    FeedTranscriber,
    RequestPartial,
    SpeculateFinal,
)
from realtime.session.outbox import Outbox

PARTIAL_EVERY_MS = 500
"""Ask for a partial transcript after this much new speech."""
MIN_COMMIT_MS = 100
"""``input_audio_buffer.commit`` needs at least this much audio (OpenAI's rule)."""
TURN_TAIL_MS = 200
"""Audio kept after the VAD's end of speech, so the last word is not clipped."""
RECENT_AUDIO_MS = 4_000
"""Input audio kept before the VAD's position (covers prefix padding and VAD lag)."""
SPECULATE_AFTER_MS = 120
"""Silence inside speech after which the final is decoded ahead of time (a VAD PAUSE).

Why this value: docs/decisions/speculative-finals.md."""

SAMPLES_PER_MS = SAMPLE_RATE // 1000

Commit = Callable[[str, float, int | None], None]
"""``commit(item_id, seconds, speculation)``: a user turn's audio is complete."""


class Transcribing(enum.Enum):
    """How a user turn is transcribed."""

    NO = "no"
    """Nobody needs its text: no transcriber command at all."""
    FINAL = "final"
    """Only its final is needed (a responder reads it; the client does not): no partials."""
    LIVE = "live"
    """The client sees it: partials as the turn goes, then the final."""


@dataclass
class _Turn:
    item_id: str
    start: int  # first sample of the turn (prefix padding applied)
    fed_upto: int  # the turn's audio up to here (went to the transcriber, if transcribed)
    partial_at: int  # sample at the last partial request
    speculation: int | None = None  # token of the speculative final for the current pause
    transcribed: bool = True  # the transcriber gets the turn's audio
    partials: bool = True  # … and is asked for partials (someone sees them)


@dataclass(frozen=True, slots=True)
class TurnCallbacks:
    """What turn taking asks of the rest of the session.

    Attributes:
        start_transcript: A new utterance begins (``item_id``); returns how it is
            transcribed (:class:`Transcribing`).
        commit: A user turn's audio is complete (see :data:`Commit`).
        speech_started: The user started speaking (barge-in).
        turn_ended: A VAD turn ended (False) or the idle timeout fired (True): the moment
            for an automatic response.
        server_vad: The turn detection in force, when it is ``server_vad``.
        speculation_void: The current pause's speculative final no longer holds (the
            speaker went on, or the turn was dropped).
    """

    start_transcript: Callable[[str], Transcribing]
    commit: Commit
    speech_started: Callable[[], None]
    turn_ended: Callable[[bool], None]
    server_vad: Callable[[], ServerVad | None]
    speculation_void: Callable[[], None]


class Turns:
    """User turns on the input timeline.

    Args:
        outbox: Where events and commands go.
        timeline: The session's input audio.
        callbacks: The rest of the session.
        speculative: The transcriber can decode finals ahead of time.
        guesses: Whether a speculation starts with a quick guess (``SpeculateFinal.guess``),
            asked at each pause (a quick reply will answer the turn).
    """

    def __init__(
        self,
        outbox: Outbox,
        timeline: InputTimeline,
        callbacks: TurnCallbacks,
        *,
        speculative: bool = False,
        guesses: Callable[[], bool] = lambda: False,
    ) -> None:
        self._out = outbox
        self._input = timeline
        self._on = callbacks
        self._speculative = speculative
        self._guesses = guesses
        self.vad: VADOptions | None = None
        """The VAD settings in force; None in manual mode."""
        self._turn: _Turn | None = None
        self._vad_upto = 0
        self._manual_start = 0  # start of uncommitted audio in manual mode
        self._idle_from: int | None = None  # sample where idle_timeout_ms counting began
        self._speculations = 0

    @property
    def speaking(self) -> bool:
        """True between a VAD start and end."""
        return self._turn is not None

    @property
    def current_item(self) -> str | None:
        """The item of the turn in progress, if any."""
        return self._turn.item_id if self._turn is not None else None

    def speculation_of(self, item_id: str) -> int | None:
        """The token of the speculative final still valid for the turn ``item_id``, if any."""
        turn = self._turn
        return turn.speculation if turn is not None and turn.item_id == item_id else None

    @property
    def pristine(self) -> bool:
        """No audio was received yet."""
        return self._input.end == 0

    def detector_options(self) -> VADOptions | None:
        """What the VAD stream runs with: :attr:`vad`, reporting pauses when speculating."""
        if self.vad is None or not self._speculative:
            return self.vad
        return dataclasses.replace(self.vad, pause_ms=SPECULATE_AFTER_MS)

    # --- VAD results -------------------------------------------------------------------------

    def receive_vad_events(self, events: Sequence[VADEvent], upto: int) -> None:
        """VAD results for audio up to sample ``upto``."""
        if self.vad is None:  # VAD was switched off while this was in flight
            return
        hints = [e.edge for e in events if e.edge in (SpeechEdge.PAUSE, SpeechEdge.RESUME)]
        if self._turn is not None and SpeechEdge.RESUME in hints:
            self._turn.speculation = None  # the speaker went on: no final may use it
            self._on.speculation_void()
        for event in events:
            if event.edge is SpeechEdge.START and self._turn is None:
                self._speech_started(event.sample)
            elif event.edge is SpeechEdge.END and self._turn is not None:
                self._speech_stopped(event.sample, upto)
        self._vad_upto = max(self._vad_upto, upto)
        if self._turn is not None:
            self._feed_turn(upto)
            if hints and hints[-1] is SpeechEdge.PAUSE:  # after the feeds it decodes
                self._speculate(self._turn)
        else:
            self._check_idle(upto)
        self._trim()

    def _speculate(self, turn: _Turn) -> None:
        if not (self._speculative and turn.transcribed):
            return
        self._speculations += 1
        turn.speculation = self._speculations
        self._out.command(SpeculateFinal(turn.item_id, turn.speculation, guess=self._guesses()))

    def _speech_started(self, sample: int) -> None:
        item_id = self._out.ids("item")
        start = max(sample, self._input.held_from)
        self._turn = _Turn(item_id, start, start, start)
        self._idle_from = None
        self._out.send(
            ev.InputAudioBufferSpeechStarted(
                event_id=self._out.event_id(),
                audio_start_ms=start // SAMPLES_PER_MS,
                item_id=item_id,
            )
        )
        transcribing = self._on.start_transcript(item_id)
        self._turn.transcribed = transcribing is not Transcribing.NO
        self._turn.partials = transcribing is Transcribing.LIVE
        self._on.speech_started()

    def _feed_turn(self, upto: int) -> None:
        turn = self._turn
        assert turn is not None
        if upto > turn.fed_upto:
            if turn.transcribed:
                chunk = self._input.audio(turn.fed_upto, upto)
                self._out.command(FeedTranscriber(turn.item_id, chunk))
            turn.fed_upto = upto
        if not turn.partials:
            return
        if turn.fed_upto - turn.partial_at >= PARTIAL_EVERY_MS * SAMPLES_PER_MS:
            turn.partial_at = turn.fed_upto
            if turn.speculation is None:  # no partials during a pause: the final is decoding
                self._out.command(RequestPartial(turn.item_id))

    def _speech_stopped(self, sample: int, upto: int) -> None:
        turn = self._turn
        assert turn is not None and self.vad is not None
        tail = sample + TURN_TAIL_MS * SAMPLES_PER_MS
        self._feed_turn(min(max(tail, turn.fed_upto), max(upto, turn.fed_upto)))
        silence = self.vad.silence_duration_ms
        audio_end_ms = min(sample // SAMPLES_PER_MS + silence, max(upto, sample) // SAMPLES_PER_MS)
        self._out.send(
            ev.InputAudioBufferSpeechStopped(
                event_id=self._out.event_id(), audio_end_ms=audio_end_ms, item_id=turn.item_id
            )
        )
        self._end_turn(turn)
        self._on.turn_ended(False)

    def _end_turn(self, turn: _Turn) -> None:
        self._turn = None
        seconds = (turn.fed_upto - turn.start) / SAMPLE_RATE
        self._on.commit(turn.item_id, seconds, turn.speculation)

    def _check_idle(self, upto: int) -> None:
        """``server_vad.idle_timeout_ms``: no speech for that long after a response played.

        Counted on the audio timeline (the client streams silence too), from the end of the
        last response's audio playback; fires ``input_audio_buffer.timeout_triggered``,
        commits the silent audio and asks for a response.
        """
        server_vad = self._on.server_vad()
        timeout_ms = server_vad.idle_timeout_ms if server_vad is not None else None
        if timeout_ms is None or self._idle_from is None:
            return
        if upto - self._idle_from < timeout_ms * SAMPLES_PER_MS:
            return
        start, self._idle_from = self._idle_from, None
        item_id = self._out.ids("item")
        self._out.send(
            ev.InputAudioBufferTimeoutTriggered(
                event_id=self._out.event_id(),
                audio_start_ms=start // SAMPLES_PER_MS,
                audio_end_ms=upto // SAMPLES_PER_MS,
                item_id=item_id,
            )
        )
        if self._on.start_transcript(item_id) is not Transcribing.NO:
            self._out.command(FeedTranscriber(item_id, self._input.audio(start, upto)))
        self._on.commit(item_id, (upto - start) / SAMPLE_RATE, None)
        self._on.turn_ended(True)

    def response_played(self, played_ms: int) -> None:
        """A response ended after ``played_ms`` of audio: idle time counts from its end."""
        self._idle_from = max(self._input.end, self._vad_upto) + played_ms * SAMPLES_PER_MS

    def _trim(self) -> None:
        keep_from = self._vad_upto - RECENT_AUDIO_MS * SAMPLES_PER_MS
        if self._turn is not None:
            keep_from = min(keep_from, self._turn.fed_upto)
        if self.vad is None:
            keep_from = min(keep_from, self._manual_start)
        self._input.trim(keep_from)

    # --- client events -----------------------------------------------------------------------

    def commit(self) -> None:
        """``input_audio_buffer.commit``: end the turn now, or commit the manual buffer.

        Raises:
            InvalidEvent: less than :data:`MIN_COMMIT_MS` of audio to commit.
        """
        if self._turn is not None:  # manual commit during speech ends the turn now
            turn = self._turn
            self._feed_turn(self._input.end)
            self._end_turn(turn)
            return
        end = self._input.end
        start = self._manual_start if self.vad is None else end
        length_ms = (end - start) / SAMPLES_PER_MS
        if length_ms < MIN_COMMIT_MS:
            raise InvalidEvent(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {length_ms:.2f}ms of audio.",
                code=ErrorCode.INPUT_AUDIO_BUFFER_COMMIT_EMPTY,
                param=None,
            )
        item_id = self._out.ids("item")
        if self._on.start_transcript(item_id) is not Transcribing.NO:
            self._out.command(FeedTranscriber(item_id, self._input.audio(start, end)))
        self._manual_start = end
        self._on.commit(item_id, length_ms / 1000, None)

    def clear(self) -> None:
        """``input_audio_buffer.clear``: drop the turn in progress and uncommitted audio."""
        if self._turn is not None:
            self._cancel_transcript(self._turn)
            self._turn = None
        self._manual_start = self._input.end
        self._out.send(ev.InputAudioBufferCleared(event_id=self._out.event_id()))

    def set_vad(self, options: VADOptions | None) -> bool:
        """Change the VAD settings; True when they changed (the detector must be reopened).

        A turn in progress loses its detector: its transcription is cancelled and its audio
        stays uncommitted, for a manual commit.
        """
        if options == self.vad:
            return False
        self.vad = options
        if self._turn is not None:
            self._cancel_transcript(self._turn)
            self._manual_start = self._turn.start
            self._turn = None
        elif options is None:
            self._manual_start = self._input.end
        return True

    def _cancel_transcript(self, turn: _Turn) -> None:
        self._on.speculation_void()
        if turn.transcribed:
            self._out.command(CancelTranscript(turn.item_id))
