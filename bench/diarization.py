"""Diarization benchmark: accuracy on the shared corpus, calibration data, cost next to ASR.

Run from the repository root::

    .venv/bin/python -m bench.diarization              # full run, appends a section to RESULTS.md
    .venv/bin/python -m bench.diarization --quick      # smoke run (implies --no-record)

What is measured (the project's own engine classes; words from Whisper base, beam 5):

1. DER on pyannote/sample.wav against sample.rttm, computed as pyannote.metrics does
   (``engines/diarization/metrics.py``) with collars 0, 0.25 (±0.125 s) and 0.5 (±0.25 s,
   NIST md-eval's 0.25): with ``num_speakers=2`` and with the count chosen automatically,
   from Whisper words and from Silero VAD regions. The online tracker's labels for the
   RTTM turns and for the VAD utterances of sample.wav go to the notes.
2. Speaker counts (chosen automatically) on the single-speaker clips (batch from words
   and from VAD regions, online from VAD utterances), and on stereo_diarization.wav: its
   two channels one after the other, and mixed to mono; physicsworks.wav on the words of
   the batch pipeline (``realtime.batch.pipeline``), with and without the voicing test.
3. Calibration. Batch: for each recording, the lowest clustering threshold at which it
   comes out as two speakers with the alternating-voices test off (single-speaker clips
   must stay above the default, pairs of different single-speaker clips joined end to
   end must fall below it), and, where the 2-means halves alternate, their centroid
   cosine (the alternating test; also over 30 s excerpts of physicsworks every 10 s).
   Online: the same sweep for ``OnlineSpeakerTracker`` fed the clips' VAD utterances
   (pairs alternating), once for each of its two limits with the other at its default.
4. Cost: Whisper base ``transcribe`` with word timestamps on physicsworks.wav (203 s)
   against ``diarize`` on its words (embedder on 1 onnxruntime thread); the ratio is the
   time diarization adds to a batch transcription.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import wave

import numpy as np

from bench import report
from bench.report import ASR_THREADS, Result, progress, table, timed
from engines.asr.faster_whisper import FasterWhisperASR
from engines.audio import load_pcm
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASROptions,
    AudioChunk,
    SpeakerTurn,
    SpeechEdge,
    VADOptions,
    Word,
)
from engines.diarization.alternation import (
    ALTERNATING_THRESHOLD,
    MIN_RUN,
    turns_per_label,
)
from engines.diarization.batch import (
    THRESHOLD,
    DiarizationOptions,
    cluster_windows,
    diarize,
    diarize_vad,
    embed_speech,
)
from engines.diarization.clustering import centroids, spherical_kmeans
from engines.diarization.dvector import DVectorEmbedder
from engines.diarization.embedding import mask_noise_floor, normalize_loudness
from engines.diarization.metrics import diarization_error, load_rttm
from engines.diarization.online import SHORT_THRESHOLD as ONLINE_SHORT
from engines.diarization.online import THRESHOLD as ONLINE_THRESHOLD
from engines.diarization.online import OnlineSpeakerTracker
from engines.diarization.regions import vad_regions
from engines.diarization.utterance import diarize_utterance
from engines.models import default_cache_dir, ensure
from engines.vad.silero import SileroVAD
from testkit.paths import TESTDATA

COLLARS = (0.0, 0.25, 0.5)
SINGLE_SPEAKER = {
    "jfk": "openai-whisper/jfk.flac",
    "austen-0870": "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "austen-0880": "pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav",
    "austen-0890": "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
    "LDC93S1": "deepspeech/LDC93S1.wav",
    "LDC93S1-8k": "deepspeech/LDC93S1_pcms16le_1_8000.wav",
    "new-home": "deepspeech/new-home-in-the-stars-16k.wav",
    "arctic-aew": "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "arctic-axb": "pyroomacoustics/cmu_arctic_us_axb_a0004.wav",
    "demo-congrats": "asterisk/demo-congrats.wav",
}
# Calibration only (not in the tests): more single speakers, some with laughter or noise.
EXTRA_SINGLE = {
    "jfk-mp3": "whisper.cpp/jfk.mp3",
    "agent-pass": "asterisk/agent-pass.wav",
    "mfa-laughter": "mfa/mfa_laughter.flac",
    "mfa-breaths": "mfa/mfa_breaths.flac",
    "mfa-um": "mfa/mfa_um.flac",
    "mfa-hes": "mfa/mfa_hes.flac",
    "sb-vad-train": "speechbrain/vad_train.wav",
    "sb-vad-valid": "speechbrain/vad_valid.wav",
    "physicsworks": "faster-whisper/physicsworks.wav",
}
# One clip per distinct speaker, for the different-speaker pairs (the first 15 s of long ones).
VOICES = {
    "jfk": "openai-whisper/jfk.flac",
    "austen": "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "timit": "deepspeech/LDC93S1.wav",
    "new-home": "deepspeech/new-home-in-the-stars-16k.wav",
    "arctic-aew": "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "arctic-axb": "pyroomacoustics/cmu_arctic_us_axb_a0004.wav",
    "allison": "asterisk/demo-congrats.wav",
    "michael": "mfa/mfa_um.flac",
    "lewin": "faster-whisper/physicsworks.wav",
    "sb-train": "speechbrain/vad_train.wav",
}
GRID = np.round(np.arange(0.0, 1.0001, 0.01), 2)
HEADER_NOTE = (
    "DER in % (pyannote.metrics conventions: collar = total width, so 0.25 forgives "
    "±0.125 s); `split at` = lowest threshold giving two speakers (– never); "
    f"defaults: batch {THRESHOLD} (alternating halves {ALTERNATING_THRESHOLD}), online "
    f"{ONLINE_THRESHOLD} (≥ 2 s) / {ONLINE_SHORT} (shorter)"
)
NOTES: list[str] = []  # label strings measured on the way (the table holds numbers only)


class Corpus:
    """Audio and Whisper base words, each computed once."""

    def __init__(self, asr: FasterWhisperASR) -> None:
        self.asr = asr
        self._audio: dict[str, PCM] = {}
        self._words: dict[str, list[Word]] = {}

    def audio(self, name: str) -> PCM:
        if name not in self._audio:
            self._audio[name] = load_pcm(TESTDATA / name)
        return self._audio[name]

    def words(self, name: str, audio: PCM | None = None) -> list[Word]:
        if name not in self._words:
            pcm = self.audio(name) if audio is None else audio
            self._words[name] = list(
                self.asr.transcribe(pcm, ASROptions(word_timestamps=True)).words
            )
        return self._words[name]


def stereo_channels() -> tuple[PCM, PCM]:
    with wave.open(str(TESTDATA / "faster-whisper/stereo_diarization.wav")) as f:
        frames = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).reshape(-1, 2)
    return frames[:, 0].copy(), frames[:, 1].copy()


def n_speakers(turns: list) -> int:
    return len({t.speaker for t in turns})


# --- 1. DER ---------------------------------------------------------------------------------


def bench_der(corpus: Corpus, embedder: DVectorEmbedder, vad: SileroVAD) -> list[Result]:
    progress("DER on pyannote/sample.wav")
    audio = corpus.audio("pyannote/sample.wav")
    reference = load_rttm(TESTDATA / "pyannote/sample.rttm")
    words = corpus.words("pyannote/sample.wav")
    out: list[Result] = []
    for source, hint in itertools.product(("words", "VAD"), (2, None)):
        if source == "words":
            turns = diarize(audio, embedder=embedder, words_or_segments=words, num_speakers=hint)
        else:
            turns = diarize_vad(audio, embedder=embedder, vad=vad, num_speakers=hint)
        item = f"sample {source} {'k=2' if hint else 'auto'}"
        out.append(Result("der", item, "speakers", [n_speakers(turns)]))
        for collar in COLLARS:
            d = diarization_error(reference, turns, collar=collar)
            out.append(Result("der", item, f"DER collar {collar:g} (%)", [100 * d.der]))
            if source == "words" and hint and collar == 0.25:
                out += [
                    Result("der", item, f"{part} collar 0.25 (s)", [value])
                    for part, value in (("missed", d.missed), ("false alarm", d.false_alarm), ("confusion", d.confusion), ("scored", d.total))
                ]  # fmt: skip
    tracker = OnlineSpeakerTracker(embedder)
    labels = "".join(
        tracker.observe(audio[round(t.start * SAMPLE_RATE) : round(t.end * SAMPLE_RATE)])
        for t in reference
    )
    NOTES.append(f"online, sample.wav RTTM turns in order: {labels} (reference 0101010110)")
    tracker = OnlineSpeakerTracker(embedder)
    pieces = utterances(vad, audio)
    NOTES.append(
        "online, sample.wav VAD utterances: "
        + ", ".join(f"{len(u) / SAMPLE_RATE:.1f} s → {tracker.observe(u)}" for u in pieces)
    )
    session = realtime_flow(audio, words, embedder, vad)
    out.append(Result("der", "sample realtime flow", "speakers", [n_speakers(session)]))
    out.append(
        Result(
            "der",
            "sample realtime flow",
            "DER collar 0.25 (%)",
            [100 * diarization_error(reference, session, collar=0.25).der],
        )
    )
    return out


def realtime_flow(
    audio: PCM, words: list[Word], embedder: DVectorEmbedder, vad: SileroVAD
) -> list[SpeakerTurn]:
    """As the realtime session: each VAD utterance through ``diarize_utterance``."""
    tracker = OnlineSpeakerTracker(embedder)
    session: list[SpeakerTurn] = []
    for begin, end in utterance_spans(vad, audio):
        t0, t1 = begin / SAMPLE_RATE, end / SAMPLE_RATE
        local = [w for w in words if t0 <= w.start < t1]
        session += diarize_utterance(audio[begin:end], local, tracker, offset=t0)
    return session


# --- 2. counts ------------------------------------------------------------------------------


def bench_counts(
    corpus: Corpus, embedder: DVectorEmbedder, vad: SileroVAD, quick: bool
) -> list[Result]:
    out: list[Result] = []
    clips = dict(list(SINGLE_SPEAKER.items())[:3]) if quick else {**SINGLE_SPEAKER, **EXTRA_SINGLE}
    for label, name in clips.items():
        progress(f"speaker count: {label}")
        audio = corpus.audio(name)
        words = diarize(audio, embedder=embedder, words_or_segments=corpus.words(name))
        by_vad = diarize_vad(audio, embedder=embedder, vad=vad)
        tracker = OnlineSpeakerTracker(embedder)
        online = {tracker.observe(u) for u in utterances(vad, audio)}
        out += [
            Result("count", label, "speakers (words)", [n_speakers(words)]),
            Result("count", label, "speakers (VAD)", [n_speakers(by_vad)]),
            Result("count", label, "speakers (online)", [len(online)]),
        ]
    left, right = stereo_channels()
    for label, audio in (
        ("stereo L then R", np.concatenate([left, right])),
        ("stereo mono mix", corpus.audio("faster-whisper/stereo_diarization.wav")),
    ):
        progress(f"speaker count: {label}")
        turns = diarize(audio, embedder=embedder, words_or_segments=corpus.words(label, audio))
        out.append(Result("count", label, "speakers (words)", [n_speakers(turns)]))
    if not quick:
        out += pipeline_counts(corpus, embedder, vad)
    return out


def pipeline_counts(corpus: Corpus, embedder: DVectorEmbedder, vad: SileroVAD) -> list[Result]:
    """Physicsworks on the words of the batch pipeline (VAD-chunked Whisper), whose
    windows include pauses and the pendulum crash: counted with and without the voicing
    test (``min_voiced``), and the windows that test leaves out."""
    from realtime.batch.pipeline import PipelineOptions, transcribe_file

    progress("speaker count: physicsworks, batch pipeline words")
    name = "faster-whisper/physicsworks.wav"
    audio = corpus.audio(name)
    transcript = transcribe_file(TESTDATA / name, vad, corpus.asr, PipelineOptions(diarize=False))
    words = [w for s in transcript.segments for w in s.words]
    turns = diarize(audio, embedder=embedder, words_or_segments=words)
    unfiltered = diarize(
        audio,
        embedder=embedder,
        words_or_segments=words,
        options=DiarizationOptions(min_voiced=0.0),
    )
    speech = embed_speech(audio, embedder=embedder, items=words)
    NOTES.append(
        "physicsworks, pipeline words: windows left out at "
        + ", ".join(f"{w.start:.1f}" for w in speech.left_out)
        + " s"
    )
    label = "physicsworks (pipeline)"
    return [
        Result("count", label, "speakers (words)", [n_speakers(turns)]),
        Result("count", label, "speakers (words, min_voiced 0)", [n_speakers(unfiltered)]),
        Result("count", label, "windows left out", [len(speech.left_out)]),
        Result(
            "calib", label, "batch split at", [batch_split_at(speech.embeddings, speech.weights)]
        ),
        Result(
            "calib",
            label,
            "alternating cos (words)",
            [alternating_cosine(speech.embeddings, speech.weights)],
        ),
    ]


# --- 3. calibration -------------------------------------------------------------------------


def window_embeddings(
    embedder: DVectorEmbedder, audio: PCM, words: list[Word]
) -> tuple[np.ndarray, np.ndarray]:
    """The embeddings and weights diarize() clusters, for a threshold sweep."""
    speech = embed_speech(audio, embedder=embedder, items=words)
    return speech.embeddings, speech.weights


def batch_split_at(embeddings: np.ndarray, weights: np.ndarray) -> float:
    """Lowest threshold at which the recording comes out as two or more speakers.

    The alternating-voices test is off: this calibrates the threshold alone.
    """
    opts = DiarizationOptions()
    for threshold in GRID:
        labels = cluster_windows(
            embeddings,
            weights,
            num_speakers=None,
            threshold=float(threshold),
            min_speaker=opts.min_speaker,
            alternating_threshold=None,
        )
        if labels.max() >= 1:
            return float(threshold)
    return math.nan


def alternating_cosine(embeddings: np.ndarray, weights: np.ndarray) -> float:
    """Centroid cosine of the 2-means halves when they alternate (NaN when they do not)."""
    if len(embeddings) < 4:
        return math.nan
    labels = spherical_kmeans(embeddings, 2, weights=weights)
    if labels.max() < 1 or min(turns_per_label(labels, weights, min_run=MIN_RUN)) < 2:
        return math.nan
    centres = centroids(embeddings, labels, 2, weights)
    return float(centres[0] @ centres[1])


def excerpt_cosines(
    embeddings: np.ndarray, weights: np.ndarray, windows: list, length: float = 30.0
) -> list[float]:
    """:func:`alternating_cosine` of excerpts ``length`` s long starting every 10 s."""
    end = max(w.end for w in windows)
    out = []
    for start in np.arange(0.0, max(end - length, 0.0) + 10.0, 10.0):
        keep = [i for i, w in enumerate(windows) if w.start >= start and w.end <= start + length]
        out.append(alternating_cosine(embeddings[keep], weights[keep]))
    return out


def utterance_spans(vad: SileroVAD, audio: PCM) -> list[tuple[int, int]]:
    """Sample spans of the utterances a realtime session cuts (server_vad defaults)."""
    start, out = None, []
    for event in vad.open_stream(VADOptions()).feed(AudioChunk(audio, 0)):
        if event.edge is SpeechEdge.START:
            start = event.sample
        else:
            out.append((start, event.sample))
            start = None
    if start is not None:
        out.append((start, len(audio)))
    return out


def utterances(vad: SileroVAD, audio: PCM) -> list[PCM]:
    return [audio[a:b] for a, b in utterance_spans(vad, audio)]


def online_embedding(embedder: DVectorEmbedder, audio: PCM) -> tuple[np.ndarray, float]:
    """An utterance as OnlineSpeakerTracker.observe embeds it, with its duration."""
    return embedder.embed(mask_noise_floor(normalize_loudness(audio))), len(audio) / SAMPLE_RATE


def online_split_at(
    embedder: DVectorEmbedder, session: list[tuple[np.ndarray, float]], *, tier: str
) -> float:
    """Lowest value of one limit (``"long"`` or ``"short"``) that opens a second speaker.

    The other limit is off (-1: never opens), so each figure calibrates one limit alone;
    NaN when that limit alone never opens one (e.g. a session without utterances of 2 s).
    """
    for value in GRID:
        if tier == "long":
            limits = {"threshold": float(value), "short_threshold": -1.0}
        else:
            limits = {"threshold": -1.0, "short_threshold": float(value)}
        tracker = OnlineSpeakerTracker(embedder, **limits)
        if len({tracker.attribute(e, duration=d).speaker for e, d in session}) > 1:
            return float(value)
    return math.nan


def online_count(embedder: DVectorEmbedder, session: list[tuple[np.ndarray, float]]) -> int:
    """Speakers the default tracker opens over a session."""
    tracker = OnlineSpeakerTracker(embedder)
    return len({tracker.attribute(e, duration=d).speaker for e, d in session})


def online_results(label: str, embedder: DVectorEmbedder, session: list) -> list[Result]:
    return [
        Result("calib", label, f"online split at ({tier})", [online_split_at(embedder, session, tier=tier)])
        for tier in ("long", "short")
    ]  # fmt: skip


def bench_calibration(
    corpus: Corpus, embedder: DVectorEmbedder, vad: SileroVAD, quick: bool
) -> list[Result]:
    out: list[Result] = []
    singles = {**SINGLE_SPEAKER, **EXTRA_SINGLE, "sample (2 spk)": "pyannote/sample.wav"}
    if quick:
        singles = dict(list(singles.items())[:2])
    sessions: dict[str, list[tuple[np.ndarray, float]]] = {}
    for label, name in singles.items():
        progress(f"calibration: {label}")
        audio = corpus.audio(name)
        embedded = window_embeddings(embedder, audio, corpus.words(name))
        speech = embed_speech(
            audio,
            embedder=embedder,
            items=vad_regions(vad, audio),
            options=DiarizationOptions(region_gap=0.0),
        )
        out += [
            Result("calib", label, "batch split at", [batch_split_at(*embedded)]),
            Result("calib", label, "alternating cos (words)", [alternating_cosine(*embedded)]),
            Result(
                "calib",
                label,
                "alternating cos (VAD)",
                [alternating_cosine(speech.embeddings, speech.weights)],
            ),
        ]
        if label == "physicsworks":
            words_speech = embed_speech(audio, embedder=embedder, items=corpus.words(name))
            for source, sp in (("words", words_speech), ("VAD", speech)):
                values = excerpt_cosines(sp.embeddings, sp.weights, sp.windows)
                below = [v for v in values if v < ALTERNATING_THRESHOLD]
                out += [
                    Result("calib", "physicsworks 30 s excerpts", f"alternating cos ({source})", [v for v in values if not math.isnan(v)] or [math.nan], "excerpts"),
                    Result("calib", "physicsworks 30 s excerpts", f"split by it ({source}, of {len(values)})", [len(below)]),
                ]  # fmt: skip
        sessions[label] = [online_embedding(embedder, u) for u in utterances(vad, audio)]
        out += online_results(label, embedder, sessions[label])
    left, right = stereo_channels()
    pair = np.concatenate([left, right])
    out.append(
        Result(
            "calib",
            "stereo L then R",
            "batch split at",
            [
                batch_split_at(
                    *window_embeddings(embedder, pair, corpus.words("stereo L then R", pair))
                )
            ],
        )
    )
    lr = [online_embedding(embedder, u) for ch in (left, right) for u in utterances(vad, ch)]
    out += online_results("stereo L then R", embedder, lr)
    if quick:
        return out
    batch_pairs: list[float] = []
    online_pairs: dict[str, list[float]] = {"long": [], "short": []}
    online_counts: list[int] = []
    for a, b in itertools.combinations(VOICES, 2):
        progress(f"calibration pair: {a} + {b}")
        clips = [corpus.audio(VOICES[v])[: 15 * SAMPLE_RATE] for v in (a, b)]
        gap = np.zeros(int(0.6 * SAMPLE_RATE), dtype=np.int16)
        offset = (len(clips[0]) + len(gap)) / SAMPLE_RATE
        words = [w for w in corpus.words(VOICES[a]) if w.end <= len(clips[0]) / SAMPLE_RATE] + [
            Word(w.text, w.start + offset, w.end + offset)
            for w in corpus.words(VOICES[b])
            if w.end <= len(clips[1]) / SAMPLE_RATE
        ]
        batch_pairs.append(
            batch_split_at(
                *window_embeddings(embedder, np.concatenate([clips[0], gap, clips[1]]), words)
            )
        )
        first = [online_embedding(embedder, u) for u in utterances(vad, clips[0])]
        second = [online_embedding(embedder, u) for u in utterances(vad, clips[1])]
        session = [
            x for pair_ in itertools.zip_longest(first, second) for x in pair_ if x is not None
        ]
        for tier, values in online_pairs.items():
            values.append(online_split_at(embedder, session, tier=tier))
        online_counts.append(online_count(embedder, session))
    out += [
        Result(
            "calib",
            f"{len(batch_pairs)} different-speaker pairs",
            "batch split at",
            batch_pairs,
            "pairs",
        ),
        Result(
            "calib",
            f"{len(batch_pairs)} different-speaker pairs",
            "batch split at, max",
            [max(batch_pairs)],
            "pairs",
        ),
    ]
    pairs = f"{len(online_counts)} different-speaker pairs"
    out += [
        Result("calib", pairs, "online speakers (defaults)", online_counts, "pairs"),
        Result("calib", pairs, "online: one speaker only", [online_counts.count(1)], "pairs"),
    ]
    for tier, values in online_pairs.items():
        split = [v for v in values if not math.isnan(v)]
        label = f"online split at ({tier} limit alone)"
        out += [
            Result("calib", pairs, label, split or [math.nan], "pairs"),
            Result("calib", pairs, f"{label}, max", [max(split, default=math.nan)], "pairs"),
            Result("calib", pairs, f"{label}, never", [len(values) - len(split)], "pairs"),
        ]
    return out


# --- 4. cost --------------------------------------------------------------------------------


def bench_cost(
    asr: FasterWhisperASR, embedder: DVectorEmbedder, repeat: int, quick: bool
) -> list[Result]:
    audio = load_pcm(TESTDATA / "faster-whisper/physicsworks.wav")
    if quick:
        audio = audio[: 60 * SAMPLE_RATE]
    duration = len(audio) / SAMPLE_RATE
    label = f"physicsworks {duration:.0f} s"
    asr_s, dia_s, words = [], [], []
    for k in range(repeat):
        progress(f"cost: {label}, repeat {k + 1}/{repeat}")
        transcript, took = timed(asr.transcribe, audio, ASROptions(word_timestamps=True))
        asr_s.append(took)
        words = list(transcript.words)
        turns, took = timed(diarize, audio, embedder=embedder, words_or_segments=words)
        dia_s.append(took)
    speech = embed_speech(audio, embedder=embedder, items=words)
    embeddings = speech.embeddings
    return [
        Result("cost", label, "ASR base + word timestamps (s)", asr_s),
        Result("cost", label, "diarize on its words (s)", dia_s),
        Result(
            "cost",
            label,
            "diarize / ASR (%)",
            [100 * d / a for d, a in zip(dia_s, asr_s, strict=True)],
        ),
        Result("cost", label, "diarize RTF", [d / duration for d in dia_s]),
        Result("cost", label, "windows embedded", [len(embeddings)]),
        Result("cost", label, "windows left out (voicing)", [len(speech.left_out)]),
        Result("cost", label, "speakers found", [n_speakers(turns)]),
    ]


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the cost measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run (implies --no-record)")
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    load_start = os.getloadavg()
    repeat = 1 if args.quick else max(args.repeat, 1)
    notes = [HEADER_NOTE]
    if args.quick:
        notes.append("--quick: fewer clips, no pairs, 60 s of physicsworks; not recorded")

    cache = default_cache_dir()
    progress("loading Whisper base, the d-vector and Silero VAD")
    asr = FasterWhisperASR(ensure("base", cache), name="base", cpu_threads=ASR_THREADS)
    embedder = DVectorEmbedder.load(cache_dir=cache)
    vad = SileroVAD.load(cache_dir=cache)
    corpus = Corpus(asr)

    results = bench_der(corpus, embedder, vad)
    results += bench_counts(corpus, embedder, vad, args.quick)
    results += bench_calibration(corpus, embedder, vad, args.quick)
    results += bench_cost(asr, embedder, repeat, args.quick)

    notes += NOTES
    machine = [
        f"{line}; d-vector intra_op_threads=1" if line.startswith("- thread env") else line
        for line in report.machine_lines(load_start)
    ]
    print("\n".join([*machine, *(f"- note: {n}" for n in notes), "", table(results)]))
    if not (args.quick or args.no_record):
        report.record(results, notes, machine, title="diarization")


if __name__ == "__main__":
    main()
