"""What every benchmark shares: result rows, the table, the machine lines, RESULTS.md.

A script measures into :class:`Result` rows, prints :func:`table` under
:func:`machine_lines`, and, unless told not to, appends the same as one section of
``bench/RESULTS.md`` (:func:`record`).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"

ASR_THREADS = 2  # cpu_threads of the Whisper models a script loads itself
PACKAGES = (  # whose versions the machine lines name
    "numpy",
    "ctranslate2",
    "faster-whisper",
    "onnxruntime",
    "piper-tts",
    "hibari-tts",
    "av",
    "soxr",
    "jiwer",
)
HEADER = """\
# Engine benchmark results

Appended by `bench/engine_speed.py`, one section per run, newest last. Each section records the
machine (cores, CPU model from /proc/cpuinfo, load average at start and end: other processes
may share the cores), the Python and package versions, the date and the exact command, then
one table. Figures are the median and p95 over repeats, or over all frames / words / decodes
of all repeats where the `over` column says so; `load` is the 1-minute load average when the
row was measured. Times are wall clock on CPU. RTF = processing time / audio duration
(below 1 is faster than real time). See the docstring of `bench/engine_speed.py` for the method.
"""


# --- results --------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values``, linear interpolation; NaN when empty."""
    array = np.asarray(list(values), dtype=np.float64)
    return float(np.percentile(array, q)) if array.size else math.nan


@dataclass
class Result:
    """One row of the table: a metric measured several times."""

    section: str
    item: str
    metric: str
    values: list[float]
    over: str = "repeats"
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def median(self) -> float:
        return percentile(self.values, 50)

    @property
    def p95(self) -> float:
        return percentile(self.values, 95)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fn`` and return its result and wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def table(results: list[Result]) -> str:
    """A Markdown table of the results (readable as plain text too)."""
    head = ("section", "item", "metric", "median", "p95", "n", "over", "load")
    rows = [
        (r.section, r.item, r.metric, fmt(r.median), fmt(r.p95), str(len(r.values)), r.over, f"{r.load:.2f}")
        for r in results
    ]  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [head, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "| " + " | ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    )


# --- machine --------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            found.append(f"{name} (absent)")
    return ", ".join(found)


def command_line() -> str:
    """The command of this run as typed in the repository root (``python -m bench.NAME …``)."""
    exe = Path(sys.executable)
    shown = os.path.relpath(exe, REPO) if exe.is_relative_to(REPO) else str(exe)
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    script = ["-m", spec.name] if spec is not None else sys.argv[:1]
    return shlex.join([shown, *script, *sys.argv[1:]])


def machine_lines(load_start: tuple[float, ...]) -> list[str]:
    load_end = os.getloadavg()
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    return [
        f"- machine: {os.cpu_count()} cores, {cpu_model()}, {platform.platform()}",
        "- load average (1/5/15 min): start "
        + " ".join(f"{x:.2f}" for x in load_start)
        + ", end "
        + " ".join(f"{x:.2f}" for x in load_end),
        f"- Python {platform.python_version()}; {versions()}",
        f"- thread env: {threads or 'none set'}; ASR cpu_threads={ASR_THREADS}",
        f"- command: `{command_line()}`",
    ]


# --- RESULTS.md -----------------------------------------------------------------------------


def record(results: list[Result], notes: list[str], machine: list[str], *, title: str = "") -> None:
    """Append a section (date, ``title``, machine lines, notes, table) to RESULTS.md."""
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    heading = f"{stamp} — {title}" if title else stamp
    section = "\n".join(
        [f"\n## {heading}\n", *machine, *(f"- note: {n}" for n in notes), "", table(results), ""]
    )
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as f:
        f.write(section)
    progress(f"appended to {RESULTS.relative_to(REPO)}")


def publish(
    results: list[Result],
    notes: list[str],
    load_start: tuple[float, ...],
    *,
    title: str,
    record_it: bool,
) -> None:
    """Print the table and the notes; append them to RESULTS.md when ``record_it``."""
    print(table(results))
    for note in notes:
        print(f"- {note}")
    if record_it:
        record(results, notes, machine_lines(load_start), title=title)
