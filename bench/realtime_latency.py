"""Realtime latency of one session: finals, first partials, partial lag, first response audio.

Run from the repository root::

    .venv/bin/python -m bench.realtime_latency            # appends a section to RESULTS.md
    .venv/bin/python -m bench.realtime_latency --quick    # two clips, once, not recorded

How it runs (engines, server, SDK, pacing): docs/realtime-latency.md.

Measured per turn, pooled over all clips and repeats (median, p95), against issue 8's
targets (details in ``bench/common_realtime.py``):

(a) ``speech_stopped`` → ``…input_audio_transcription.completed``: p50 ≤ 500 ms, p95 ≤ 1 s;
(b) ``speech_started`` → first ``…transcription.delta`` (no target);
(c) partial lag, per word: its end's chunk sent → the delta carrying it: p50 ≤ 1.5 s;
(d) ``response.create`` → first ``response.output_audio.delta``: p50 ≤ 250 ms.

Also resident memory after loading, after the warm-up and at the peak (docs page above).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from bench import common_realtime as rt
from bench import report
from bench.report import Result, progress
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings

TITLE = "realtime latency"
"""Heading of this script's sections in RESULTS.md."""

QUICK_CLIPS = ("openai-whisper/jfk.flac", "deepspeech/LDC93S1.wav")


async def measure(args: argparse.Namespace) -> tuple[list[Result], list[str]]:
    progress("loading the default engines")
    engines = load_engines(Settings())
    clips = rt.load_clips(QUICK_CLIPS if args.quick else rt.CLIPS, engines)
    warmup = rt.load_clips([rt.WARMUP_CLIP], engines)
    repeat = 1 if args.quick else max(args.repeat, 1)
    async with rt.serve(engines) as server:
        loaded_rss = rt.memory_mib()[0]
        progress("warm-up session")
        await rt.run_session(server, warmup, chunk_ms=args.chunk_ms, response_text=rt.RESPONSE_TEXT)
        warm_rss = rt.memory_mib()[0]
        pooled = rt.SessionResult()
        audio_s = sum(c.duration + rt.TAIL_S for c in clips)
        async with rt.MemorySampler() as memory:
            for i in range(repeat):
                progress(f"session {i + 1}/{repeat}: {len(clips)} clips, {audio_s:.0f} s of audio")
                pooled.add(
                    await rt.run_session(
                        server, clips, chunk_ms=args.chunk_ms, response_text=rt.RESPONSE_TEXT
                    )
                )
    item = f"{len(clips)} clips × {repeat}"
    results = rt.latency_rows("realtime", item, pooled)
    results += [
        Result("realtime", "server process", "RSS after loading (MiB)", [loaded_rss], "count"),
        Result(
            "realtime", "server process", "RSS after a warm-up session (MiB)", [warm_rss], "count"
        ),
        Result(
            "realtime",
            "server process",
            "peak RSS, 1 active session − after loading (MiB)",
            [memory.peak - loaded_rss],
            "count",
        ),
    ]
    notes = [
        f"{args.chunk_ms} ms chunks of pcm16 24 kHz at real-time pace, server_vad "
        f"{rt.SILENCE_MS} ms silence; clips: {', '.join(c.name for c in clips)}",
        *rt.target_lines(pooled),
    ]
    if pooled.errors:
        notes.append(f"errors: {pooled.errors[:5]}")
    return results, notes


def main() -> None:
    """Measure, print the table, append it to RESULTS.md unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="sessions over all clips")
    parser.add_argument("--quick", action="store_true", help="two clips once (implies --no-record)")
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    parser.add_argument("--chunk-ms", type=int, choices=(20, 40), default=40)
    args = parser.parse_args()
    load_start = os.getloadavg()
    results, notes = asyncio.run(measure(args))
    report.publish(
        results, notes, load_start, title=TITLE, record_it=not (args.quick or args.no_record)
    )


if __name__ == "__main__":
    main()
