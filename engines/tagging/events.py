"""Non-speech events of a transcript: ``[laugh]``, ``[breath]``, ``[cough]``, ``[pause]``….

:func:`detect_events` takes audio and the words Whisper heard in it (decoded with
``ASROptions(verbatim=True)``) and returns the words to print and the events, each an
:class:`~engines.base.AudioTag` whose label is one of :data:`NON_SPEECH_TAGS`.

Evidence
--------
* **YAMNet** patch scores (0.96 s, hop 0.48 s), computed once over the whole audio, each
  patch pooled by its tag (the max over the tag's AudioSet classes, ``TAG_CLASSES``). Each
  patch's *centre* (its middle 0.48 s; the centres tile the audio) decides its context:

  - **speech**: words cover at least half of the centre. Only strong evidence counts
    (:attr:`EventOptions.speech_threshold`): laughter over voice mostly scores Speech.
  - **gap**: between two words, where breaths, coughs and laughs are expected
    (:attr:`EventOptions.gap_thresholds`).
  - **edge**: before the first word or after the last one (all of a clip without words):
    leading and trailing silence, counted only on strong evidence
    (:attr:`EventOptions.edge_threshold`).

  Each patch votes for at most one tag (the highest score over its threshold), and runs of
  patches with the same vote make an event, placed in the region it was found in: the gap
  between the two words around it, the leading or trailing stretch, or the patches'
  centres inside speech. YAMNet alone cannot tell a sigh from a breath (on
  ``mfa_breaths``, pure breathing, Sigh scores 0.95 where Breathing scores 0.82), so an
  acoustic-only sigh is reported as ``breath``; ``sigh`` needs Whisper's ``[Sigh]``.
* **Whisper's annotations** (:mod:`engines.tagging.annotations`): ``[Laughter]``,
  ``(coughing)``, ``[Sigh]``, ``*sniff*``… are never printed. One becomes an event at its own
  time only when YAMNet agrees: the tag (breath and sigh count for each other) scores at
  least :attr:`EventOptions.confirm_threshold` in a patch within
  :attr:`EventOptions.confirm_margin_s` of it. Written laughter (``Ha-ha-ha``) becomes a
  ``laugh`` event the same way; unconfirmed, it stays as text (the Fluxions format also
  writes laughs as ``hahaha``).
* **Invented words**: a word that no patch around it hears as speech (Speech below
  :attr:`EventOptions.no_speech`) while YAMNet hears a non-speech tag or silence there is
  dropped: Whisper with default settings writes words over noise.
* **Fillers** (``um``, ``uh``, ``hmm``…) are words: kept verbatim.
* ``pause``: a stretch of at least :attr:`EventOptions.pause_s` (2.0 s) quieter than the
  clip's noise floor + :attr:`EventOptions.quiet_db`, with words before and after it. The
  Fluxions doc calls a pause an "unnaturally long, noticeable pause (e.g., looking something
  up)"; read speech breathes between sentences for about 1 s (jfk: 1.16 s after
  "Americans," and 1.12 s after "not"), so 2 s is twice the longest natural gap we have.
  The floor is the 10th percentile of the 20 ms levels (digital silence left out, at
  least :attr:`EventOptions.floor_db`); a frame is silent under the floor +
  :attr:`EventOptions.quiet_db` or 40 dB under the 95th percentile, whichever is higher.
* ``hesitation``: a *thinking noise*: inside a speaker's speech, patches that YAMNet does
  not hear as speech (Speech below :attr:`EventOptions.no_speech`) nor as any tag, whose
  centre is clearly not silence (median 20 ms level at least
  :attr:`EventOptions.voiced_db` above the floor), and that are not a filler Whisper
  already wrote (a patch touching a filler word belongs to it), nor touch another event or
  written laughter, nor score a vocal tag (laugh, breath, cough, sniff, tut) of
  :attr:`EventOptions.confirm_threshold` or more. A filler alone is no hesitation: it is
  printed as a word.

Calibration (Whisper base, verbatim; YAMNet scores are int8 steps 0.09/0.18/0.32/0.50/0.68…)
------------------------------------------------------------------------------------------
* Clean read speech (pocketsphinx ×3, deepspeech ×3 incl. 8 kHz, pyroomacoustics ×2, jfk):
  every tag ≤ 0.02 in every context except env 0.18 (jfk, its 1 s pause: "Animal") and
  0.05 (cmu_arctic aew, edge); no Speech < 0.2 patch inside speech except jfk's pause,
  whose level is the room floor (+1 dB). Hence the gap thresholds: 0.3 for laugh and
  breath (YAMNet scores them weakly), 0.5 for the others; edge 0.6; speech 0.8.
* coughing_freesound451260 (no words): Cough up to 1.00 in 14 patches; Sneeze 0.95 in
  one (→ sniff); env at most 0.50 (Bouncing), under the edge threshold.
* laughing_freesound486625 (Whisper: "[laughs]", unconfirmed: laugh 0.00 near it):
  Laughter 0.68 at 26.4 s, 0.50 in three more patches; Gasp/Breathing 0.91, Sneeze 0.91.
* mfa_laughter (Whisper: "Ha-ha-ha, Montreal. Ha-ha-ha, forced. …"): laugh 0.09, 0.18,
  0.32 and 0.00 in the four written laughs (Speech ≤ 0.5 there), so 0.15 confirms two.
* mfa_breaths: Breathing/Gasp 0.91 and Sigh 0.95 before the first word (edge); breath
  0.32 and sigh 0.50 in two gaps; a 2.3 s silence between "Forced." and "A" is a pause.
* tt-monkeys (no words): env 0.68 (Animal, Dog) in 3 patches.
* mfa_hes ("Montreal <hes-forced> aligner"; Whisper: "Montreal, four, still later."): the
  patch at 1.44 s has Speech 0.00 and no tag above 0.18 while its level is −44 dB, 38 dB
  above the floor: the thinking noise. jfk's pause at 4.3 s (Speech 0.05) is at the floor.
* mfa_uh: its prolonged "uh" scores Speech 0.09 and touches the word "uh": no hesitation.

Thread-safe (no shared state; the tagger is); blocking (YAMNet runs ~5 ms per patch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engines.base import PCM, SAMPLE_RATE, AudioTag, Word
from engines.tagging.annotations import Kind, read_words
from engines.tagging.yamnet import PATCH_HOP_SAMPLES, WINDOW_SAMPLES, YamnetTagger

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
"""Per-tag YAMNet score for an event between two words (see the module docstring)."""

FRAME_S = 0.02
"""Frame of the loudness measure (pause and hesitation), in seconds."""

_HOP_S = PATCH_HOP_SAMPLES / SAMPLE_RATE  # 0.48
_WINDOW_S = WINDOW_SAMPLES / SAMPLE_RATE  # 0.975
_CENTRE_S = (_WINDOW_S - _HOP_S) / 2  # offset of a patch's centre (its middle hop)
_SILENCE_DB = -120.0


@dataclass(frozen=True, slots=True)
class EventOptions:
    """Tuning of :func:`detect_events`; the defaults are calibrated (module docstring).

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
    """YAMNet's view of the audio, pooled per tag."""

    starts: npt.NDArray[np.float64]  # window start of each patch, seconds on the timeline
    tags: dict[str, npt.NDArray[np.float32]]  # acoustic tag (and "sigh") → score per patch
    speech: npt.NDArray[np.float32]
    silence: npt.NDArray[np.float32]

    @classmethod
    def measure(cls, tagger: YamnetTagger, audio: PCM, offset: float) -> _Patches:
        scores = tagger.patch_scores(audio)
        index = {name: i for i, name in enumerate(tagger.class_names)}

        def pooled(names: Sequence[str]) -> npt.NDArray[np.float32]:
            return scores[:, [index[n] for n in names]].max(axis=1)

        tags = {tag: pooled(names) for tag, names in tagger.tag_classes.items()}
        tags["breath"] = np.maximum(tags["breath"], tags["sigh"])  # indistinguishable
        starts = offset + np.arange(len(scores)) * _HOP_S
        return cls(starts, tags, pooled(SPEECH_CLASSES), pooled(("Silence",)))

    def near(self, start: float, end: float) -> npt.NDArray[np.bool_]:
        """Patches whose window overlaps ``[start, end]``."""
        return (self.starts < end) & (self.starts + _WINDOW_S > start)

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
        a = max(0, int((start - self.start) / FRAME_S))
        b = min(len(self.db), int(np.ceil((end - self.start) / FRAME_S)))
        return float(np.median(self.db[a:b])) if b > a else self.floor


def detect_events(
    audio: PCM,
    words: Sequence[Word],
    *,
    tagger: YamnetTagger,
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
        tagger: The YAMNet tagger.
        offset: Time of ``audio[0]`` on the words' timeline, in seconds.
        options: Tuning; None uses the calibrated defaults.

    Returns:
        The words to print and the events (see :class:`Listened`); no events for empty
        audio.
    """
    opts = options or EventOptions()
    if len(audio) == 0:
        kept = [w for p in read_words(words) if p.kind is not Kind.ANNOTATION for w in p.words]
        return Listened(tuple(kept), ())
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
    zone_start = patches.starts + _CENTRE_S
    zone_end = zone_start + _HOP_S
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
        if covered >= _HOP_S / 2:
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
            run = (float(patches.starts[i]), float(patches.starts[j - 1]) + _WINDOW_S)
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
    slack = _HOP_S  # Whisper stretches words over the silence next to them
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
    """Thinking noises: voiced, not speech, not a tag, inside speech, away from fillers.

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
        zone = (float(start) + _CENTRE_S, float(start) + _CENTRE_S + _HOP_S)
        window = (float(start), float(start) + _WINDOW_S)
        if (
            first < (zone[0] + zone[1]) / 2 < last
            and patches.speech[i] < opts.no_speech
            and vocal[i] < opts.confirm_threshold
            and not any(a < window[1] and b > window[0] for a, b in claimed)
            and loudness.median(*zone) >= loudness.floor + opts.voiced_db
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
