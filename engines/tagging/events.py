"""Non-speech events of a transcript: ``[laugh]``, ``[breath]``, ``[cough]``, ``[pause]``….

:func:`detect_events` takes audio and the words Whisper heard in it (decoded with
``ASROptions(verbatim=True)``) and returns the words to print and the events, each an
:class:`~engines.base.AudioTag` whose label is one of :data:`NON_SPEECH_TAGS`. Evidence:

* tagger patch scores, pooled per tag; each patch's centre is judged in its context
  (among words, in a gap between two words, or before the first / after the last word),
  each context with its own threshold (:class:`EventOptions`); runs of patches voting for
  the same tag make one event. An acoustic-only sigh is reported as ``breath``.
* Whisper's annotations (``[Laughter]``, ``(coughing)``…) and written laughter become
  events only when the tagger confirms them nearby; annotations are never printed,
  unconfirmed written laughter stays as text. Fillers (``um``, ``uh``) stay as words.
* A word no patch around it hears as speech, where the tagger hears a non-speech tag or
  silence, is dropped (invented over noise).
* ``pause``: at least :attr:`EventOptions.pause_s` quieter than the noise floor plus
  :attr:`EventOptions.quiet_db`, between words.
* ``hesitation``: inside speech, held, clearly non-silent patches that the tagger hears as
  neither speech nor any tag, and that touch no filler, event or written laughter.

Thread-safe (no shared state; the tagger is); blocking (one tagger pass over the audio).

Full rules and why these thresholds: docs/decisions/non-speech-events.md
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE, AudioTag, AudioTagger, Word
from engines.tagging.annotations import Kind, read_words

NON_SPEECH_TAGS: tuple[str, ...] = (
    "laugh", "breath", "cough", "sigh", "sniff", "tut", "env", "pause", "hesitation",
)  # fmt: skip
"""Every label :func:`detect_events` may give (the Fluxions non-speech tags)."""

ACOUSTIC_TAGS: tuple[str, ...] = ("laugh", "breath", "cough", "sniff", "tut", "env")
"""Tags YAMNet alone may report, in order of preference on equal scores."""

SPEECH_CLASSES: tuple[str, ...] = (
    "Speech", "Child speech, kid speaking", "Conversation", "Narration, monologue",
)  # fmt: skip
"""AudioSet classes that mean someone is talking."""

DEFAULT_GAP_THRESHOLDS: Mapping[str, float] = {
    "laugh": 0.3,
    "breath": 0.3,
    "cough": 0.5,
    "sniff": 0.5,
    "tut": 0.5,
    "env": 0.5,
}
"""Per-tag YAMNet score for an event between two words (docs/decisions/non-speech-events.md)."""

FRAME_S = 0.02
"""Frame of the loudness measure (pause and hesitation), in seconds."""

_WORD_SLACK_S = 0.48  # Whisper stretches words over the silence next to them
_SILENCE_DB = -120.0


@dataclass(frozen=True, slots=True)
class EventOptions:
    """Tuning of :func:`detect_events`; the defaults are calibrated on YAMNet.

    Why these values: docs/decisions/non-speech-events.md

    Attributes:
        gap_thresholds: YAMNet score per acoustic tag for an event between two words.
        edge_threshold: Score for an event before the first word or after the last one
            (at least the gap threshold).
        speech_threshold: Score for an event among words.
        confirm_threshold: Score that confirms one of Whisper's annotations or a written
            laugh.
        confirm_margin_s: How far around an annotation a confirming patch may lie.
        no_speech: Speech score under which a patch does not hear speech.
        pause_s: Shortest ``pause``, in seconds.
        quiet_db: A frame quieter than the noise floor plus this is silent.
        voiced_db: A hesitation's median level is at least the floor plus this.
        steady_db: A hesitation's level is held: its frame levels (10th to 90th
            percentile) span at most this many dB, where syllables make speech dip.
        floor_db: Lowest noise floor assumed, in dBFS (digital silence would put the floor
            at minus infinity).
    """

    gap_thresholds: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_GAP_THRESHOLDS)
    )
    edge_threshold: float = 0.6
    speech_threshold: float = 0.8
    confirm_threshold: float = 0.15
    confirm_margin_s: float = 0.5
    no_speech: float = 0.2
    pause_s: float = 2.0
    quiet_db: float = 10.0
    voiced_db: float = 15.0
    steady_db: float = 10.0
    floor_db: float = -80.0


@dataclass(frozen=True, slots=True)
class Listened:
    """What :func:`detect_events` found.

    Attributes:
        words: The words to print, in order: Whisper's annotations and the words it invented
            over non-speech removed, fillers kept, written laughter kept unless it became a
            ``laugh`` event.
        events: Events (label in :data:`NON_SPEECH_TAGS`), sorted by start, in seconds on
            the words' timeline.
    """

    words: tuple[Word, ...]
    events: tuple[AudioTag, ...]


@dataclass(frozen=True, slots=True)
class _Patches:
    """The tagger's view of the audio, pooled per tag."""

    starts: npt.NDArray[np.float64]  # window start of each patch, seconds on the timeline
    tags: dict[str, npt.NDArray[np.float32]]  # acoustic tag (and "sigh") → score per patch
    speech: npt.NDArray[np.float32]
    silence: npt.NDArray[np.float32]
    hop: float  # seconds between patch starts
    window: float  # seconds one patch spans

    @property
    def centre(self) -> float:
        """Offset of a patch's centre zone (its middle hop) from the patch start."""
        return (self.window - self.hop) / 2

    @classmethod
    def measure(cls, tagger: AudioTagger, audio: PCM, offset: float) -> _Patches:
        scores = tagger.patch_scores(audio)
        index = {name: i for i, name in enumerate(tagger.class_names)}

        def pooled(names: Sequence[str]) -> npt.NDArray[np.float32]:
            return scores[:, [index[n] for n in names]].max(axis=1)

        tags = {tag: pooled(names) for tag, names in tagger.tag_classes.items()}
        tags["breath"] = np.maximum(tags["breath"], tags["sigh"])  # indistinguishable
        hop = tagger.hop_samples / SAMPLE_RATE
        starts = offset + np.arange(len(scores), dtype=np.float64) * hop
        window = tagger.window_samples / SAMPLE_RATE
        return cls(starts, tags, pooled(SPEECH_CLASSES), pooled(("Silence",)), hop, window)

    def near(self, start: float, end: float) -> npt.NDArray[np.bool_]:
        """Patches whose window overlaps ``[start, end]``."""
        return (self.starts < end) & (self.starts + self.window > start)

    def evidence(self, tag: str, start: float, end: float) -> float:
        """Max score of ``tag`` over the patches overlapping ``[start, end]``."""
        if tag not in self.tags:
            return 0.0
        near = self.near(start, end)
        return float(self.tags[tag][near].max()) if near.any() else 0.0


@dataclass(frozen=True, slots=True)
class _Loudness:
    """Frame levels of the audio, and its noise floor."""

    start: float
    db: npt.NDArray[np.float64]
    floor: float
    quiet: float  # level under which a frame is silent: floor + quiet_db or speech - 40 dB

    @classmethod
    def measure(cls, audio: PCM, offset: float, options: EventOptions) -> _Loudness:
        n = round(FRAME_S * SAMPLE_RATE)
        frames = audio[: len(audio) // n * n].astype(np.float64).reshape(-1, n) / 32768.0
        power = (frames**2).mean(axis=1) if len(frames) else np.zeros(0)
        db = 10.0 * np.log10(np.maximum(power, 10 ** (_SILENCE_DB / 10)))
        if not len(db):
            return cls(offset, db, options.floor_db, options.floor_db)
        sound = db[db > _SILENCE_DB + 20.0]  # digital silence would hide the room's floor
        floor = max(float(np.percentile(sound if len(sound) else db, 10)), options.floor_db)
        speech = float(np.percentile(db, 95))
        quiet = min(max(floor + options.quiet_db, speech - 40.0), max(floor, speech - 20.0))
        return cls(offset, db, floor, quiet)

    def median(self, start: float, end: float) -> float:
        """Median frame level over ``[start, end]`` (the floor when it holds no frame)."""
        db = self._frames(start, end)
        return float(np.median(db)) if len(db) else self.floor

    def spread(self, start: float, end: float) -> float:
        """Span of the frame levels over ``[start, end]``, 10th to 90th percentile, in dB.

        Zero when the stretch holds no frame.
        """
        db = self._frames(start, end)
        return float(np.percentile(db, 90) - np.percentile(db, 10)) if len(db) else 0.0

    def _frames(self, start: float, end: float) -> npt.NDArray[np.float64]:
        a = max(0, int((start - self.start) / FRAME_S))
        b = min(len(self.db), int(np.ceil((end - self.start) / FRAME_S)))
        return self.db[a : max(a, b)]


def detect_events(
    audio: PCM,
    words: Sequence[Word],
    *,
    tagger: AudioTagger,
    offset: float = 0.0,
    options: EventOptions | None = None,
) -> Listened:
    """Find the non-speech events of ``audio`` and the words worth printing.

    Blocking (runs YAMNet over the whole audio once); thread-safe.

    Args:
        audio: Mono int16 at 16 kHz; ``audio[0]`` is at ``offset`` seconds on the words'
            timeline.
        words: Whisper's words for this audio in time order, ideally decoded with
            ``ASROptions(verbatim=True, word_timestamps=True)``.
        tagger: The tagger (the defaults are calibrated on YAMNet).
        offset: Time of ``audio[0]`` on the words' timeline, in seconds.
        options: Tuning; None uses the calibrated defaults.

    Returns:
        The words to print and the events (see :class:`Listened`); no events for empty
        audio.
    """
    opts = options or EventOptions()
    if len(audio) == 0:
        spoken = (w for p in read_words(words) if p.kind is not Kind.ANNOTATION for w in p.words)
        return Listened(tuple(spoken), ())
    end = offset + len(audio) / SAMPLE_RATE
    patches = _Patches.measure(tagger, audio, offset)
    loudness = _Loudness.measure(audio, offset, opts)

    events: list[AudioTag] = []
    kept: list[Word] = []
    for piece in read_words(words):
        if piece.kind is Kind.ANNOTATION:
            if piece.tag in patches.tags:
                score = patches.evidence(
                    piece.tag,
                    piece.start - opts.confirm_margin_s,
                    piece.end + opts.confirm_margin_s,
                )
                if score >= opts.confirm_threshold:
                    events.append(AudioTag(piece.tag, score, piece.start, piece.end))
        elif piece.kind is Kind.LAUGH:
            score = patches.evidence("laugh", piece.start, piece.end)
            if score >= opts.confirm_threshold:
                events.append(AudioTag("laugh", score, piece.start, piece.end))
            else:
                kept.extend(piece.words)
        else:
            kept.extend(piece.words)
    kept = [w for w in kept if not _invented(w, patches, opts)]

    laughs = [(p.start, p.end) for p in read_words(kept) if p.kind is Kind.LAUGH]
    events += _acoustic_events(patches, kept, end, opts)
    busy = laughs + [(e.start, e.end) for e in events]
    events += _pauses(loudness, kept, opts)
    events += _hesitations(patches, loudness, kept, busy, opts)
    return Listened(tuple(kept), tuple(_merged(events)))


def _invented(word: Word, patches: _Patches, opts: EventOptions) -> bool:
    """True when no patch around ``word`` hears speech but one hears a tag or silence."""
    near = patches.near(word.start, word.end)
    if not near.any() or patches.speech[near].max() >= opts.no_speech:
        return False
    heard = any(
        patches.tags[tag][near].max() >= opts.gap_thresholds.get(tag, 1.0) for tag in ACOUSTIC_TAGS
    )
    return heard or bool(patches.silence[near].max() >= 0.5)


def _contexts(
    patches: _Patches, words: Sequence[Word]
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each patch's context (speech, gap, lead, tail, or edge when there are no words)."""
    zone_start = patches.starts + patches.centre
    zone_end = zone_start + patches.hop
    if not words:
        return ["edge"] * len(zone_start), zone_start, zone_end
    spans = np.array([(w.start, w.end) for w in words])
    cover = np.clip(
        np.minimum(zone_end[:, None], spans[None, :, 1])
        - np.maximum(zone_start[:, None], spans[None, :, 0]),
        0.0,
        None,
    ).sum(axis=1)
    mids = (zone_start + zone_end) / 2
    contexts = []
    for covered, mid in zip(cover, mids, strict=True):
        if covered >= patches.hop / 2:
            contexts.append("speech")
        elif mid < words[0].start:
            contexts.append("lead")
        elif mid > words[-1].end:
            contexts.append("tail")
        else:
            contexts.append("gap")
    return contexts, zone_start, zone_end


def _threshold(context: str, tag: str, opts: EventOptions) -> float:
    gap = opts.gap_thresholds.get(tag, 1.0)
    if context == "speech":
        return max(opts.speech_threshold, gap)
    if context == "gap":
        return gap
    return max(opts.edge_threshold, gap)


def _region(
    context: str, mid: float, words: Sequence[Word], start: float, end: float
) -> tuple[float, float]:
    """The stretch a patch found in ``context`` at time ``mid`` belongs to."""
    if context in ("edge", "speech"):
        return start, end
    if context == "lead":
        return start, words[0].start
    if context == "tail":
        return words[-1].end, end
    before = [w for w in words if (w.start + w.end) / 2 < mid]
    after = [w for w in words if (w.start + w.end) / 2 >= mid]
    a = before[-1].end if before else start
    b = after[0].start if after else end
    return a, max(a, b)


def _acoustic_events(
    patches: _Patches, words: Sequence[Word], end: float, opts: EventOptions
) -> list[AudioTag]:
    """YAMNet's own events."""
    contexts, zone_start, zone_end = _contexts(patches, words)
    votes: list[tuple[str, float] | None] = []
    for i, context in enumerate(contexts):
        best: tuple[str, float] | None = None
        for tag in ACOUSTIC_TAGS:
            score = float(patches.tags[tag][i])
            if score >= _threshold(context, tag, opts) and (best is None or score > best[1]):
                best = (tag, score)
        votes.append(best)
    start = float(patches.starts[0]) if len(patches.starts) else 0.0
    events: list[AudioTag] = []
    i = 0
    while i < len(votes):
        vote = votes[i]
        if vote is None:
            i += 1
            continue
        j = i + 1
        while (
            j < len(votes)
            and votes[j] is not None
            and votes[j][0] == vote[0]  # type: ignore[index]
            and contexts[j] == contexts[i]
        ):
            j += 1
        score = max(v[1] for v in votes[i:j] if v is not None)
        mid = (zone_start[i] + zone_end[j - 1]) / 2
        a, b = _region(contexts[i], mid, words, start, end)
        if contexts[i] == "speech":
            run = (float(zone_start[i]), float(zone_end[j - 1]))
        else:
            run = (float(patches.starts[i]), float(patches.starts[j - 1]) + patches.window)
        lo, hi = max(a, run[0]), min(b, run[1], end)
        if hi < lo:  # the run lies beside its region (words overlap it): use the region
            lo, hi = a, b
        events.append(AudioTag(vote[0], score, lo, hi))
        i = j
    return events


def _pauses(loudness: _Loudness, words: Sequence[Word], opts: EventOptions) -> list[AudioTag]:
    """Silences of at least ``pause_s`` with words before and after them."""
    if not words or not len(loudness.db):
        return []
    quiet = np.concatenate(([False], loudness.db < loudness.quiet, [False]))
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    events = []
    slack = _WORD_SLACK_S
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        start = float(loudness.start + a * FRAME_S)
        stop = float(loudness.start + b * FRAME_S)
        if stop - start < opts.pause_s:
            continue
        spoken_before = any(w.end <= start + slack for w in words)
        spoken_after = any(w.start >= stop - slack for w in words)
        if spoken_before and spoken_after:
            events.append(AudioTag("pause", 1.0, start, stop))
    return events


def _hesitations(
    patches: _Patches,
    loudness: _Loudness,
    words: Sequence[Word],
    busy: Sequence[tuple[float, float]],
    opts: EventOptions,
) -> list[AudioTag]:
    """Thinking noises: voiced and held, not speech, not a tag, inside speech, not fillers.

    ``busy`` spans (other events, written laughter) and filler words claim the patches
    whose window they touch; so does any vocal tag (laugh, breath, cough, sniff, tut)
    scoring :attr:`EventOptions.confirm_threshold` or more.
    """
    if not words:
        return []
    fillers = [w for p in read_words(words) if p.kind is Kind.FILLER for w in p.words]
    claimed = [*busy, *((w.start, w.end) for w in fillers)]
    vocal = np.max([patches.tags[t] for t in ACOUSTIC_TAGS if t != "env"], axis=0)
    first, last = words[0].start, words[-1].end
    events: list[AudioTag] = []
    for i, start in enumerate(patches.starts):
        zone = (float(start) + patches.centre, float(start) + patches.centre + patches.hop)
        window = (float(start), float(start) + patches.window)
        if (
            first < (zone[0] + zone[1]) / 2 < last
            and patches.speech[i] < opts.no_speech
            and vocal[i] < opts.confirm_threshold
            and not any(a < window[1] and b > window[0] for a, b in claimed)
            and loudness.median(*zone) >= loudness.floor + opts.voiced_db
            and loudness.spread(*zone) <= opts.steady_db
        ):
            events.append(AudioTag("hesitation", 1.0 - float(patches.speech[i]), *zone))
    return events


def _merged(events: Sequence[AudioTag]) -> list[AudioTag]:
    """Events sorted by start, overlapping or touching events of one label joined."""
    out: list[AudioTag] = []
    for event in sorted(events, key=lambda e: (e.start, e.end)):
        same = next((k for k in range(len(out) - 1, -1, -1) if out[k].label == event.label), None)
        if same is not None and event.start <= out[same].end + 0.05:
            prev = out[same]
            out[same] = AudioTag(
                prev.label, max(prev.score, event.score), prev.start, max(prev.end, event.end)
            )
        else:
            out.append(event)
    return sorted(out, key=lambda e: (e.start, e.end))
