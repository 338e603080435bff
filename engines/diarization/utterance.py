"""Speakers inside one realtime utterance: the batch diarizer, then the session's tracker.

A VAD utterance can hold several voices. :func:`diarize_utterance` diarizes the utterance
on its own words with :func:`~engines.diarization.batch.diarize`, then maps each local
speaker (all their pieces together) onto the session's speakers with
:meth:`~engines.diarization.online.OnlineSpeakerTracker.observe_speakers`, which never puts
two local speakers onto one session speaker.

Used by the realtime annotation (``realtime/inference/annotation.py``), the benchmark and
the tests, so all three measure the same flow.

Why this design, and measurements: docs/decisions/online-diarization.md
"""

from __future__ import annotations

from collections.abc import Sequence

from engines.base import PCM, SAMPLE_RATE, SpeakerTurn, Word
from engines.diarization.batch import diarize
from engines.diarization.online import OnlineSpeakerTracker


def diarize_utterance(
    audio: PCM, words: Sequence[Word], tracker: OnlineSpeakerTracker, *, offset: float = 0.0
) -> list[SpeakerTurn]:
    """Who spoke when in one utterance, with the session's speaker labels.

    Blocking; the tracker is the session's own (call this for one session's utterances one
    at a time, in order).

    Args:
        audio: The utterance, mono int16 at 16 kHz; sample 0 is at ``offset`` seconds.
        words: Its words, timed on the same timeline as ``offset``.
        tracker: The session's speaker tracker (its embedder is used for diarizing too).
        offset: Time of ``audio[0]`` on the words' timeline, in seconds.

    Returns:
        Turns on the words' timeline, sorted by start. Without words (or when the diarizer
        finds no speech) one turn covering the utterance.
    """
    end = offset + len(audio) / SAMPLE_RATE
    local = [Word(w.text, w.start - offset, w.end - offset, w.probability) for w in words]
    turns = diarize(audio, embedder=tracker.embedder, words_or_segments=local) if local else []
    if not turns:
        return [SpeakerTurn(tracker.observe(audio), offset, end)]
    pieces: dict[str, list[PCM]] = {}
    for t in turns:
        pieces.setdefault(t.speaker, []).append(
            audio[round(t.start * SAMPLE_RATE) : round(t.end * SAMPLE_RATE)]
        )
    names = tracker.observe_speakers(pieces)
    return [SpeakerTurn(names[t.speaker], t.start + offset, t.end + offset) for t in turns]
