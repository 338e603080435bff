"""What diarization and non-speech tagging cost the batch pipeline, in one run.

Run from the repository root::

    .venv/bin/python -m bench.listening              # appends a section to RESULTS.md
    .venv/bin/python -m bench.listening --quick      # one repeat, no record

The batch pipeline (:func:`realtime.batch.pipeline.transcribe_file`, what ``/submit`` jobs
run) processes ``faster-whisper/physicsworks.wav`` (203 s) with the default engines, in
alternation:

* **plain**: ``PipelineOptions(non_speech=False, diarize=False)``: VAD, Whisper base with word
  timestamps, assembly;
* **full**: ``PipelineOptions(non_speech=True, diarize=True)`` with the d-vector embedder and
  YAMNet: verbatim decoding, non-speech events, prosody marks, diarization.

Reported: wall time of each (median, p95), the added share ``full / plain − 1`` per pair
(target ≤ 30 %, issue 6), the real-time factor of the full run (target ≤ 0.15, issue 8),
the speakers and tags the full run found. Runs alternate so machine load drifts hit both.
"""

from __future__ import annotations

import argparse
import os

from bench import report
from bench.report import Result, progress, timed
from realtime.batch.pipeline import PipelineOptions, transcribe_file
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.paths import TESTDATA

CLIP = "faster-whisper/physicsworks.wav"


def main() -> None:
    """Measure, print the table, append it to RESULTS.md unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs")
    parser.add_argument("--quick", action="store_true", help="one pair (implies --no-record)")
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    load_start = os.getloadavg()
    repeat = 1 if args.quick else max(args.repeat, 1)
    progress("loading the default engines")
    engines = load_engines(Settings())
    path = TESTDATA / CLIP
    plain_options = PipelineOptions(non_speech=False, diarize=False)
    full_options = PipelineOptions(non_speech=True, diarize=True)
    plain, full, added = [], [], []
    result = None
    for i in range(repeat):
        progress(f"pair {i + 1}/{repeat}: plain")
        _, t_plain = timed(transcribe_file, path, engines.vad, engines.asr, plain_options)
        progress(f"pair {i + 1}/{repeat}: diarization + tagging")
        result, t_full = timed(
            transcribe_file,
            path,
            engines.vad,
            engines.asr,
            full_options,
            embedder=engines.embedder,
            tagger=engines.tagger,
        )
        plain.append(t_plain)
        full.append(t_full)
        added.append(100 * (t_full / t_plain - 1))
    assert result is not None
    item = f"physicsworks {result.duration:.0f} s"
    tags: dict[str, int] = {}
    for tag in result.tags:
        tags[tag.label] = tags.get(tag.label, 0) + 1
    results = [
        Result("batch", item, "plain pipeline (s)", plain),
        Result("batch", item, "with diarization + tags (s)", full),
        Result("batch", item, "added by diarization + tags (%)", added),
        Result("batch", item, "RTF with diarization + tags", [t / result.duration for t in full]),
        Result("batch", item, "speakers found", [float(result.num_speakers)]),
        Result("batch", item, "non-speech tags found", [float(len(result.tags))]),
    ]
    notes = [f"tags: {tags or 'none'}", "runs alternate plain / full; added % is per pair"]
    report.publish(
        results, notes, load_start, title="listening", record_it=not (args.quick or args.no_record)
    )


if __name__ == "__main__":
    main()
