"""Realtime sessions at once: latency, CPU and memory against the number of sessions N.

Run from the repository root::

    .venv/bin/python -m bench.concurrency               # N = 1 2 4 8 12 16, recorded
    .venv/bin/python -m bench.concurrency --sessions 1 4 8 --no-record
    .venv/bin/python -m bench.concurrency --quick       # N = 1 2, one short clip, not recorded

One voxgate runs in this process (default engines, ``create_app`` on a free port; session
limits raised to the largest N). For each N, N sessions of the official ``openai`` SDK run
at once, each streaming real clips at real-time pace (pcm16 24 kHz, ``--chunk-ms`` chunks
paced by the wall clock, ``server_vad`` with 500 ms silence) — the method and the figures
(a)–(d) are those of ``bench/realtime_latency.py``, see ``bench/common_realtime.py``. Each
session plays the clip list rotated by its index (so sessions do not speak the same clip at
the same moment) and starts 0.37 s × index later (mod 2 s); ``--responses`` also asks for a
spoken response after each clip (d), which adds TTS load. A warm-up session runs first.

Per N, pooled over all turns / words of all sessions (median, p95): (a) speech_stopped →
final, (b) speech_started → first partial, (c) partial lag per word; the process's CPU use
(CPU seconds of all threads / wall seconds of the phase: 2.0 = two cores busy), its peak
resident memory (VmRSS sampled every 0.2 s) and that minus the RSS after loading, per
session. Client and server share the process, so the client's work is in these figures;
the sender's lateness against the real-time schedule shows when the event loop falls
behind. The largest N whose p95 of (a) is ≤ 1.5 s with no final missing is issue 8's
concurrency figure (target: ≥ 6 sessions); the largest N meeting the single-session targets
too ((a) p50 ≤ 500 ms, p95 ≤ 1 s, (c) p50 ≤ 1.5 s) is also given. Latency against N is
plotted to ``bench/concurrency.png`` (a temporary file with ``--quick``/``--no-record``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench import common_realtime as rt
from bench import pngplot, report
from bench.report import Result, percentile, progress
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings

TITLE = "concurrency"
"""Heading of this script's sections in RESULTS.md."""

SESSIONS = (1, 2, 4, 8, 12, 16)
CLIPS = (
    "openai-whisper/jfk.flac",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav",
    "deepspeech/new-home-in-the-stars-16k.wav",
    "pyroomacoustics/cmu_arctic_us_aew_a0001.wav",
    "pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav",
)
QUICK_CLIPS = ("deepspeech/LDC93S1.wav",)
PLOT = report.BENCH / "concurrency.png"
FINAL_P95_TARGET_MS = 1500


async def phase(
    server: rt.Server, clips: list[rt.Clip], n: int, args: argparse.Namespace
) -> tuple[rt.SessionResult, float, float]:
    """N sessions at once; return the pooled result, CPU cores used and peak RSS."""
    playlists = [(clips[i % len(clips) :] + clips[: i % len(clips)]) * args.rounds for i in range(n)]  # fmt: skip
    cpu0, wall0 = rt.cpu_seconds(), time.perf_counter()
    async with rt.MemorySampler() as memory:
        async with asyncio.TaskGroup() as group:  # one failing session cancels the others
            tasks = [
                group.create_task(
                    rt.run_session(
                        server,
                        playlist,
                        chunk_ms=args.chunk_ms,
                        response_text=rt.RESPONSE_TEXT if args.responses else None,
                        start_delay=(0.37 * i) % 2.0,
                    )
                )
                for i, playlist in enumerate(playlists)
            ]
        results = [task.result() for task in tasks]
    cores = (rt.cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
    pooled = rt.SessionResult()
    for result in results:
        pooled.add(result)
    return pooled, cores, memory.peak


def meets_single(r: rt.SessionResult) -> bool:
    final, lags = rt.ms(r.final), rt.ms(r.word_lags)
    return (
        not r.missing_finals
        and percentile(final, 50) <= 500
        and percentile(final, 95) <= 1000
        and percentile(lags, 50) <= 1500
    )


def meets_concurrency(r: rt.SessionResult) -> bool:
    return not r.missing_finals and percentile(rt.ms(r.final), 95) <= FINAL_P95_TARGET_MS


def plot(path: Path, by_n: dict[int, rt.SessionResult]) -> None:
    ns = list(by_n)
    col = pngplot.PALETTE

    def curve(label: str, values: str, q: float, color: pngplot.Color) -> pngplot.Series:
        ys = [percentile(getattr(by_n[n], values), q) for n in ns]
        return pngplot.Series(label, ns, ys, color)

    pngplot.line_plot(
        path,
        [
            curve("(a) final p50", "final", 50, col[0]),
            curve("(a) final p95", "final", 95, col[1]),
            curve("(b) first partial p50", "first_partial", 50, col[2]),
            curve("(c) partial lag p50", "word_lags", 50, col[3]),
        ],
        [
            pngplot.Target("target (a) p95 at N >= 6: 1.5 s", 1.5, (120, 120, 120)),
            pngplot.Target("target (a) p50: 0.5 s", 0.5, (190, 150, 60)),
        ],
        title="VOXGATE REALTIME LATENCY AGAINST CONCURRENT SESSIONS",
        xlabel="SESSIONS AT ONCE (N)",
        ylabel="SECONDS (CLIPPED AT 6)",
        ymax=6.0,
    )
    progress(f"plot written to {path}")


async def measure(args: argparse.Namespace) -> tuple[list[Result], list[str], Path]:
    sessions = (1, 2) if args.quick else tuple(args.sessions)
    progress("loading the default engines")
    engines = load_engines(Settings())
    clips = rt.load_clips(QUICK_CLIPS if args.quick else CLIPS, engines)
    warmup = rt.load_clips([rt.WARMUP_CLIP], engines)
    limit = max(sessions)
    results: list[Result] = []
    by_n: dict[int, rt.SessionResult] = {}
    async with rt.serve(
        engines, max_sessions=max(limit, 100), max_sessions_per_key=max(limit, 20)
    ) as server:
        loaded_rss = rt.memory_mib()[0]
        progress("warm-up session")
        await rt.run_session(server, warmup, chunk_ms=args.chunk_ms, response_text=rt.RESPONSE_TEXT)  # fmt: skip
        audio_s = sum(c.duration + rt.TAIL_S for c in clips) * args.rounds
        for n in sessions:
            progress(f"N={n}: {n} sessions × {audio_s:.0f} s of audio")
            pooled, cores, peak = await phase(server, clips, n, args)
            by_n[n] = pooled
            item = f"N={n}"
            results += rt.latency_rows("concurrency", item, pooled)
            results += [
                Result("concurrency", item, "CPU use (cores)", [cores], "count"),
                Result("concurrency", item, "peak RSS (MiB)", [peak], "count"),
                Result(
                    "concurrency",
                    item,
                    "(peak RSS − after loading) / N (MiB)",
                    [(peak - loaded_rss) / n],
                    "count",
                ),
            ]
            if pooled.errors:
                progress(f"N={n}: errors: {pooled.errors[:3]}")
    results.append(Result("concurrency", "process", "RSS after loading (MiB)", [loaded_rss], "count"))  # fmt: skip
    results.append(Result("concurrency", "process", "VmHWM at the end (MiB)", [rt.memory_mib()[1]], "count"))  # fmt: skip
    ok = [n for n, r in by_n.items() if meets_concurrency(r)]
    single = [n for n, r in by_n.items() if meets_single(r)]
    best = max(ok, default=0)
    notes = [
        f"{args.chunk_ms} ms chunks at real-time pace, server_vad {rt.SILENCE_MS} ms; "
        f"clips per session: {', '.join(c.name for c in clips)} × {args.rounds}; "
        f"responses {'on' if args.responses else 'off'}",
        f"largest N with (a) p95 ≤ {FINAL_P95_TARGET_MS} ms and no final missing: {best or 'none'}"
        f" ({'meets' if best >= 6 else 'MISSES'} target ≥ 6)",
        f"largest N meeting the single-session targets ((a) p50 ≤ 500 ms, p95 ≤ 1 s, "
        f"(c) p50 ≤ 1.5 s): {max(single) if single else 'none'}",
    ]
    record = not (args.quick or args.no_record)
    path = PLOT if record else Path(tempfile.gettempdir()) / "voxgate-concurrency.png"
    plot(path, by_n)
    notes.append(f"plot: {path.relative_to(report.REPO) if record else path}")
    return results, notes, path


def main() -> None:
    """Measure, print the table, append it to RESULTS.md unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", "--rounds", dest="rounds", type=int, default=1,
        help="passes of each session over its clips (figures pool all of them)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="N = 1, 2, one short clip (implies --no-record)")  # fmt: skip
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    parser.add_argument("--sessions", type=int, nargs="+", default=list(SESSIONS), metavar="N")
    parser.add_argument("--chunk-ms", type=int, choices=(20, 40), default=40)
    parser.add_argument("--responses", action="store_true", help="a spoken response per clip (d)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    load_start = os.getloadavg()
    results, notes, _ = asyncio.run(measure(args))
    report.publish(
        results, notes, load_start, title=TITLE, record_it=not (args.quick or args.no_record)
    )


if __name__ == "__main__":
    main()
