"""Listening beyond the words: one implementation shared by the batch pipeline and realtime.

:func:`listen` takes a stretch of audio and the words Whisper heard in it and returns what
a transcript with non-speech output shows: the words to print (Whisper's own annotations
such as ``[Laughter]`` and words invented over non-speech removed, fillers kept), the
non-speech events (``[laugh]``, ``[breath]``, ``[cough]``, ``[pause]`` …, from
:mod:`engines.tagging.events`) and the prosody marks of each word (elongation ``so...``,
emphasis ``*really*``, from :mod:`engines.tagging.prosody`). :meth:`Heard.text` renders
them inline (:mod:`engines.tagging.inline`).

The batch pipeline calls it once over a whole recording and renders each speaker's line
from the slice of words and events in it; a realtime session calls it on each completed
utterance. Both therefore tag and mark the same audio the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engines.base import PCM, AudioTag, AudioTagger, Word
from engines.tagging.events import EventOptions, detect_events
from engines.tagging.inline import inline_text
from engines.tagging.prosody import Mark, ProsodyOptions, prosody_marks


@dataclass(frozen=True, slots=True)
class Heard:
    """What :func:`listen` found in one stretch of audio.

    Attributes:
        words: The words to print, in time order.
        events: Non-speech events (``AudioTag.label`` is the bare tag, e.g. ``"laugh"``),
            sorted by start, on the words' timeline.
        marks: The prosody mark of each word (same length as ``words``).
    """

    words: tuple[Word, ...]
    events: tuple[AudioTag, ...]
    marks: tuple[Mark, ...]

    def text(self) -> str:
        """The words with events and marks inline (``so... [laugh] I *really* …``)."""
        return inline_text(self.words, self.events, self.marks)

    def plain_text(self) -> str:
        """The words alone, as Whisper spells them (what ``segments[].text`` holds)."""
        return inline_text(self.words)


def listen(
    audio: PCM,
    words: Sequence[Word],
    *,
    tagger: AudioTagger,
    offset: float = 0.0,
    events: EventOptions | None = None,
    prosody: ProsodyOptions | None = None,
) -> Heard:
    """Find the non-speech events and prosody marks of ``audio``.

    Blocking (YAMNet and numpy); call it from a worker thread. Thread-safe.

    Args:
        audio: Mono int16 at 16 kHz; its sample 0 is at ``offset`` seconds on the words'
            timeline.
        words: Whisper's words for this audio (decoded with ``ASROptions(verbatim=True)``
            for fillers and annotations), in time order.
        tagger: The sound-event tagger (YAMNet: :class:`~engines.tagging.yamnet.YamnetTagger`).
        offset: Time of ``audio[0]`` on the words' timeline, in seconds.
        events: Event detection tuning; None uses the calibrated defaults.
        prosody: Prosody tuning; None uses the calibrated defaults.

    Returns:
        The words to print, their marks and the events.
    """
    found = detect_events(audio, words, tagger=tagger, offset=offset, options=events)
    marks = prosody_marks(audio, found.words, offset=offset, options=prosody)
    return Heard(tuple(found.words), tuple(found.events), tuple(marks))
