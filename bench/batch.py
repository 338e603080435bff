"""Batch transcription through the HTTP API against plain faster-whisper on the same file.

Run from the repository root::

    .venv/bin/python -m bench.batch              # 203 s physicsworks.wav, appends to RESULTS.md
    .venv/bin/python -m bench.batch --quick      # its first 30 s, once, not recorded

The script loads the default engines (``load_engines(Settings())``) and starts voxgate in
this process on a free port (``create_app``, one batch worker, data in a temporary folder).
Then, per repeat and in this order so machine load drifts hit all three alike:

* **plain**: ``faster_whisper.WhisperModel`` on the server's final model directory (the
  same device, compute type — int8 on CPU — and ``cpu_threads=settings.asr_threads``),
  ``transcribe(path, beam_size=5, vad_filter=True, word_timestamps=True,
  condition_on_previous_text=False)`` (voxgate's decoding setting), segments consumed;
* **voxgate**: ``POST /submit?cache=false`` with the file as the raw body, then
  ``GET /transcriptions/{id}?wait=30`` until the job is completed; timed from the submit to
  the completed answer (upload, queue, decoding, VAD, Whisper, diarization, storage). Jobs
  always diarize;
* **voxgate + tags**: the same with ``non_speech=true`` (verbatim decoding, non-speech tags,
  prosody marks) as well as diarization.

Reported (median, p95 over repeats): each wall time, the ratio voxgate / plain per repeat
(issue 8's target ≤ 1.3), the job's own ``processing_time``, throughput (audio seconds per
second) and the real-time factor with diarization + tags (target ≤ 0.15). A warm-up of each
kind on jfk.flac runs first, unmeasured. The plain model is a second copy in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import aiohttp

from bench import common_realtime as rt
from bench import report
from bench.report import Result, progress
from engines.audio import load_pcm
from engines.base import SAMPLE_RATE
from engines.models import Kind, resolve
from realtime.inference.loading import load_engines
from realtime.server.settings import Settings
from testkit.paths import TESTDATA

TITLE = "batch"
"""Heading of this script's sections in RESULTS.md."""

CLIP = "faster-whisper/physicsworks.wav"
WARMUP = "openai-whisper/jfk.flac"
QUICK_S = 30


def plain_model(settings: Settings, device: str, compute_type: str) -> Any:
    from faster_whisper import WhisperModel

    path = resolve(settings.asr_final_model, Kind.WHISPER, settings.model_cache_dir)
    return WhisperModel(
        str(path),
        device=device,
        compute_type=compute_type,
        cpu_threads=settings.asr_threads,
        local_files_only=True,
    )


def plain_transcribe(model: Any, path: Path, beam_size: int) -> float:
    """Transcribe with faster-whisper directly; return the wall time."""
    start = time.perf_counter()
    segments, _ = model.transcribe(
        str(path),
        beam_size=beam_size,
        vad_filter=True,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    list(segments)  # lazy: decoding happens while iterating
    return time.perf_counter() - start


async def submit(
    http: aiohttp.ClientSession, server: rt.Server, audio: bytes, *, non_speech: bool
) -> tuple[float, dict[str, Any]]:
    """``POST /submit`` then wait for completion; return the wall time and the job body."""
    headers = {"Authorization": server.key}
    params = {"cache": "false", "non_speech": str(non_speech).lower(), "filename": "bench.wav"}
    start = time.perf_counter()
    async with http.post(f"{server.url}/submit", data=audio, params=params, headers=headers) as r:
        r.raise_for_status()
        job_id = (await r.json())["id"]
    while True:
        url = f"{server.url}/transcriptions/{job_id}"
        async with http.get(url, params={"wait": "30"}, headers=headers) as r:
            r.raise_for_status()
            job = await r.json()
        if job["status"] == "completed":
            return time.perf_counter() - start, job
        if job["status"] not in ("submitted", "processing"):
            raise RuntimeError(f"job {job_id}: {job['status']} {job.get('error_message')}")


def excerpt(path: Path, seconds: int, folder: Path) -> Path:
    """The first ``seconds`` of ``path`` as a 16 kHz mono WAV in ``folder``."""
    pcm = load_pcm(path)[: seconds * SAMPLE_RATE]
    out = folder / f"{path.stem}-{seconds}s.wav"
    with wave.open(str(out), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(pcm.tobytes())
    return out


async def measure(args: argparse.Namespace, folder: Path) -> tuple[list[Result], list[str]]:
    settings = Settings()
    progress("loading the default engines and a plain faster-whisper model")
    engines = load_engines(settings)
    final = getattr(engines.asr, "final_model", engines.asr)  # StreamingWhisper wraps it
    model = plain_model(settings, final.device, final.compute_type)
    path = TESTDATA / CLIP
    if args.quick:
        path = excerpt(path, QUICK_S, folder)
    audio = path.read_bytes()
    duration = len(load_pcm(path)) / SAMPLE_RATE
    warmup = TESTDATA / WARMUP
    repeat = 1 if args.quick else max(args.repeat, 1)
    beam = settings.asr_beam_size
    plain, vox, tagged, ratio, processing = [], [], [], [], []
    speakers = 0
    async with rt.serve(engines) as server, aiohttp.ClientSession() as http:
        progress("warm-up: plain, voxgate, voxgate + tags on jfk.flac")
        await asyncio.to_thread(plain_transcribe, model, warmup, beam)
        await submit(http, server, warmup.read_bytes(), non_speech=False)
        await submit(http, server, warmup.read_bytes(), non_speech=True)
        for i in range(repeat):
            progress(f"repeat {i + 1}/{repeat}: plain faster-whisper on {duration:.0f} s")
            t_plain = await asyncio.to_thread(plain_transcribe, model, path, beam)
            progress(f"repeat {i + 1}/{repeat}: voxgate /submit")
            t_vox, job = await submit(http, server, audio, non_speech=False)
            progress(f"repeat {i + 1}/{repeat}: voxgate /submit non_speech=true")
            t_tag, tagged_job = await submit(http, server, audio, non_speech=True)
            plain.append(t_plain)
            vox.append(t_vox)
            tagged.append(t_tag)
            ratio.append(t_vox / t_plain)
            processing.append(float(job["processing_time"]))
            speakers = tagged_job["num_speakers"]
    item = f"{path.stem} {duration:.0f} s"
    results = [
        Result("batch-api", item, "plain faster-whisper (s)", plain),
        Result("batch-api", item, "voxgate /submit → completed (s)", vox),
        Result("batch-api", item, "voxgate / plain", ratio),
        Result("batch-api", item, "voxgate job processing_time (s)", processing),
        Result("batch-api", item, "voxgate + tags /submit → completed (s)", tagged),
        Result("batch-api", item, "throughput plain (audio s / s)", [duration / t for t in plain]),
        Result("batch-api", item, "throughput voxgate (audio s / s)", [duration / t for t in vox]),
        Result("batch-api", item, "RTF voxgate + diarization + tags", [t / duration for t in tagged]),
        Result("batch-api", item, "speakers found (with tags)", [float(speakers or 0)], "count"),
    ]  # fmt: skip
    p50_ratio, p50_rtf = report.percentile(ratio, 50), report.percentile(results[7].values, 50)
    notes = [
        f"plain: WhisperModel({final.device}, {final.compute_type}, "
        f"cpu_threads={settings.asr_threads}), beam {beam}, vad_filter, word timestamps, "
        "condition_on_previous_text=False; runs alternate plain / voxgate / voxgate + tags",
        rt.check("voxgate / plain p50", p50_ratio, 1.3, "×"),
        rt.check("RTF with diarization + tags p50", p50_rtf, 0.15, ""),
    ]
    return results, notes


def main() -> None:
    """Measure, print the table, append it to RESULTS.md unless told not to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the three runs")
    parser.add_argument(
        "--quick", action="store_true", help=f"first {QUICK_S} s, once (implies --no-record)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="voxgate-bench-") as folder:
        results, notes = asyncio.run(measure(args, Path(folder)))
    report.publish(
        results, notes, load_start, title=TITLE, record_it=not (args.quick or args.no_record)
    )


if __name__ == "__main__":
    main()
