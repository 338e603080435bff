"""Load test: many realtime sessions, then a burst of batch jobs, on one in-process voxgate.

Run from the repository root::

    .venv/bin/python -m bench.load               # 50 sessions × 2 rounds, 200 submits; recorded
    .venv/bin/python -m bench.load --quick       # 8 sessions × 1 round, 20 submits; not recorded
    .venv/bin/python -m bench.load --sessions 20 --rounds 1 --submits 50 --no-record

Criteria (PASS/FAIL each; the exit status is 1 when any fails): no error of any kind (an
``error`` event, a failed or missing transcription, an unexpected close code, a non-2xx
answer, a failed, empty or unfinished job), and tasks, Python threads and kernel threads
back to the baseline after each phase. The phases and the figures reported:
docs/load-test.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from bench import common_realtime as rt
from bench import report
from bench.report import Result, progress
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit import loadgen
from testkit.paths import TESTDATA

TITLE = "load"
"""Heading of this script's sections in RESULTS.md."""


def load_rows(section: str, name: str, counts: loadgen.Counts) -> list[Result]:
    return [
        Result(section, name, "asyncio tasks", [float(counts.tasks)], "count"),
        Result(section, name, "Python threads", [float(counts.threads)], "count"),
        Result(section, name, "kernel threads", [float(counts.os_threads)], "count"),
    ]


def settle_line(phase: str, base: loadgen.Counts, after: loadgen.Counts, left: list[str]) -> str:
    ok = not left and after.tasks <= base.tasks and after.threads <= base.threads
    ok = ok and after.os_threads <= base.os_threads
    detail = (
        f"tasks {base.tasks} → {after.tasks}, Python threads {base.threads} → {after.threads}, "
        f"kernel threads {base.os_threads} → {after.os_threads}"
    )
    if left:
        detail += f"; still alive: {'; '.join(left[:5])}"
    return f"{'PASS' if ok else 'FAIL'} tasks and threads back to the baseline after {phase}: {detail}"  # fmt: skip


def errors_line(what: str, errors: list[str]) -> str:
    if not errors:
        return f"PASS {what}: 0 errors"
    return f"FAIL {what}: {len(errors)} errors, e.g. {'; '.join(errors[:3])}"


async def measure(args: argparse.Namespace) -> tuple[list[Result], list[str], list[str]]:
    """Run the load; return the table rows, the notes and the criteria lines."""
    workers = await loadgen.fill_default_executor()
    progress("loading the default engines")
    engines = load_engines(Settings())
    clips = loadgen.load_clips(TESTDATA)
    scripts = loadgen.build_scripts(clips, args.seconds)
    short = loadgen.build_scripts(loadgen.load_clips(TESTDATA, loadgen.SHORT_CLIPS), 3)
    limit = args.sessions
    async with loadgen.serve(
        engines, max_sessions=max(limit, 100), max_sessions_per_key=max(limit, 20)
    ) as server:
        progress("warm-up: 2 sessions, 2 batch jobs")
        before_warmup = loadgen.Baseline()
        warm_rt = await loadgen.realtime_load(server, short[:2], 2)
        warm_batch = await loadgen.batch_burst(server, clips[2:4], 2, within_s=120)
        _, warm_left = await before_warmup.settle_tasks()
        warm_errors = warm_rt.errors + warm_batch.errors + warm_left
        rss_warm = rt.memory_mib()[0]
        audio_s = sum(s.speech_s for s in scripts) / len(scripts)
        progress(
            f"realtime: {args.sessions} sessions × {args.rounds} rounds, "
            f"~{audio_s:.0f} s of speech each (load {os.getloadavg()[0]:.2f})"
        )
        load_rt = os.getloadavg()[0]
        async with rt.MemorySampler() as memory:  # its task is part of the baseline
            baseline = loadgen.Baseline()
            base = baseline.counts
            realtime = await loadgen.realtime_load(
                server,
                scripts,
                args.sessions,
                args.rounds,
                spread_s=args.spread,
                settle_s=args.settle,
            )
            progress(f"realtime done in {realtime.wall_s:.0f} s; awaiting its tasks and threads")
            after_rt, left_rt = await baseline.settle()
            progress(f"batch: {args.submits} submits at once (load {os.getloadavg()[0]:.2f})")
            load_batch = os.getloadavg()[0]
            batch = await loadgen.batch_burst(
                server, clips, args.submits, within_s=args.batch_timeout
            )
            progress(f"batch done in {batch.wall_s:.0f} s; awaiting its tasks and threads")
            after_batch, left_batch = await baseline.settle()
    hwm = rt.memory_mib()[1]

    ms = rt.ms
    sec = f"realtime ×{args.sessions}"
    rt_item = f"{args.sessions} sessions × {args.rounds}"
    results = [
        Result(sec, rt_item, "connect → session.created (ms)", ms(realtime.connect_s), "sessions"),
        Result(sec, rt_item, "speech_stopped → completed (ms)", ms(realtime.finals_s), "turns"),
        Result(sec, rt_item, "sender lateness (ms)", ms(realtime.sender_late_s), "chunks"),
        Result(sec, rt_item, "sessions", [float(len(realtime.outcomes))], "count"),
        Result(sec, rt_item, "turns with a final", [float(len(realtime.finals_s))], "count"),
        Result(sec, rt_item, "errors", [float(len(realtime.errors))], "count"),
        Result(sec, rt_item, "WER, all sessions (%)", [100 * loadgen.corpus_wer(loadgen.realtime_pairs(realtime))], "count"),
        Result(sec, rt_item, "wall time (s)", [realtime.wall_s], "count"),
    ]  # fmt: skip
    for r in results:
        r.load = load_rt
    bsec = f"batch ×{args.submits}"
    b_item = f"{args.submits} submits at once"
    batch_rows = [
        Result(bsec, b_item, "/submit response (ms)", ms(batch.submit_s), "jobs"),
        Result(bsec, b_item, "submit → completed (s)", batch.completed_s, "jobs"),
        Result(bsec, b_item, "jobs completed", [float(len(batch.completed_s))], "count"),
        Result(bsec, b_item, "errors", [float(len(batch.errors))], "count"),
        Result(bsec, b_item, "WER, all jobs (%)", [100 * loadgen.corpus_wer(loadgen.batch_pairs(batch))], "count"),
        Result(bsec, b_item, "wall time (s)", [batch.wall_s], "count"),
        Result(bsec, b_item, "jobs per minute", [60 * len(batch.completed_s) / max(batch.wall_s, 1e-9)], "count"),
    ]  # fmt: skip
    for r in batch_rows:
        r.load = load_batch
    results += batch_rows
    results += [
        Result("process", "memory", "RSS after warm-up (MiB)", [rss_warm], "count"),
        Result("process", "memory", "peak RSS during the run (MiB)", [memory.peak], "count"),
        Result("process", "memory", "VmHWM at the end (MiB)", [hwm], "count"),
        *load_rows("process", "baseline (after warm-up)", base),
        *load_rows("process", "after realtime", after_rt),
        *load_rows("process", "after batch", after_batch),
    ]
    clip_names = ", ".join(Path(c.name).stem for c in clips)
    notes = [
        f"clips (cycled): {clip_names}; scripts ~{args.seconds:g} s of speech "
        f"({min(s.speech_s for s in scripts):.1f}–{max(s.speech_s for s in scripts):.1f} s, "
        f"mean {sum(s.speech_s for s in scripts) / len(scripts):.1f} s, "
        f"clips joined by {loadgen.GAP_S:g} s gaps, {loadgen.TAIL_S:g} s silent tail), 100 ms "
        f"chunks at real-time pace, server_vad {loadgen.SILENCE_MS} ms; sessions connect within "
        f"{args.spread:g} s; batch: cache=false, diarization on",
        f"1-minute load average when the realtime phase started {load_rt:.2f}, when the batch "
        f"phase started {load_batch:.2f} (the machine may be shared: latencies inflate with it)",
        f"default executor pre-started with {workers} threads; client and server share this "
        "process (uvloop)",
    ]
    criteria = [
        errors_line("warm-up", warm_errors),
        errors_line("realtime sessions", realtime.errors),
        errors_line("batch jobs", batch.errors),
        settle_line("realtime", base, after_rt, left_rt),
        settle_line("batch", base, after_batch, left_batch),
    ]
    return results, notes, criteria


def main() -> None:
    """Run, print the table and the criteria, record unless told not to; exit 1 on FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="realtime sessions at once")
    parser.add_argument(
        "--rounds", "--repeat", dest="rounds", type=int, default=2,
        help="rounds of --sessions sessions (--repeat: the name the other bench scripts use)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="speech per session (s)")
    parser.add_argument("--spread", type=float, default=1.0, help="connects spread over (s)")
    parser.add_argument("--settle", type=float, default=300.0, help="longest wait for finals after the audio (s)")  # fmt: skip
    parser.add_argument("--submits", type=int, default=200, help="batch jobs in the burst")
    parser.add_argument("--batch-timeout", type=float, default=2400.0, help="longest wait for all jobs (s)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="8 sessions × 1 round, 20 submits (implies --no-record)")  # fmt: skip
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.rounds, args.submits = 8, 1, 20
    load_start = os.getloadavg()
    started = time.perf_counter()
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # not on Linux: the default loop
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        results, notes, criteria = runner.run(measure(args))
    notes.append(f"whole run {time.perf_counter() - started:.0f} s")
    print(report.table(results))
    for note in notes:
        print(f"- {note}")
    for line in criteria:
        print(line)
    failed = any(line.startswith("FAIL") for line in criteria)
    if not (args.quick or args.no_record):
        report.record(results, [*notes, *criteria], report.machine_lines(load_start), title=TITLE)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
