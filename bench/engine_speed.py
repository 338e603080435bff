"""Engine benchmarks on this machine: Whisper ASR, streaming partials, Silero VAD, TTS.

Run from the repository root::

    .venv/bin/python -m bench.engine_speed         # full run, appends a section to RESULTS.md
    .venv/bin/python -m bench.engine_speed --quick # smoke run (implies --no-record)

What is measured (wall clock, CPU, the project's own engine classes):

1. ASR: batch ``transcribe`` real-time factor (beam 5, default DecodeOptions) on the first
   60 s of physicsworks.wav, and the latency of single greedy ``decode()`` calls with word
   timestamps on 1/3/6/12 s windows (what one partial decode costs).
2. Streaming: ``StreamingWhisper`` on a simulated real-time timeline (no sleeping). Audio is
   fed in 20 ms chunks; a partial is asked for every ``cadence`` s of audio, but a decode
   starts only at ``max(audio time, previous decode end)`` and ends ``duration`` later
   (measured). A committed word's lag is (simulated time of the delta that carries it) −
   (its end time on the audio timeline, as the committed word itself carries it). Each clip
   is one utterance (no VAD cut), so physics30 exercises the window trim past 15 s. Also
   reported: wall time of each ``partial()`` call, the time from the end of the audio to
   the final transcript (waiting out a running partial, then ``finalize()``), the share of
   final words already committed by partials, and the final transcript's WER against the
   batch transcript of the final model on the same audio.
3. VAD: Silero v6 streaming 512-sample (32 ms) frames through ``open_stream(VADOptions())``.
4. TTS: time to the first chunk and synthesis time / audio duration, Piper and hibari;
   the first call after loading is reported apart (lazy initialisation).

Figures are the median and p95 over repeats, or over the frames / words / decodes of all
repeats where the ``over`` column says so.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import ASR_THREADS, Result, machine_lines, progress, record, table, timed
from engines.asr.faster_whisper import FasterWhisperASR
from engines.asr.incremental import StreamingWhisper
from engines.audio import int16_to_float32, load_pcm
from engines.base import PCM, SAMPLE_RATE, ASROptions, AudioChunk, VADOptions, Word
from engines.models import default_cache_dir, ensure
from engines.vad.silero import FRAME_SAMPLES, SileroVAD
from testkit.paths import TESTDATA
from testkit.wer import wer

PHYSICS = TESTDATA / "faster-whisper" / "physicsworks.wav"
JFK = TESTDATA / "openai-whisper" / "jfk.flac"

WINDOWS_S = (1.0, 3.0, 6.0, 12.0)
CADENCES_S = (0.5, 1.0)
CHUNK_S = 0.02
# The streaming simulation is the slowest part (~2.5 min per repeat on 2 cores): cap its
# repeats so a full run stays under ~8 min. Its lag figures pool every word of every repeat.
STREAM_REPEATS_MAX = 2
TTS_TEXT = (
    "Thanks for calling, this is the voice gateway speaking. "
    "I can read back your order, check a delivery date, or put you through to a person. "
    "Which of those would you like me to do for you this afternoon?"
)


# --- 1. ASR ---------------------------------------------------------------------------------


def load_whisper(name: str, cache: Path) -> tuple[FasterWhisperASR, float]:
    return timed(lambda: FasterWhisperASR(ensure(name, cache), name=name, cpu_threads=ASR_THREADS))


def partial_decode(model: FasterWhisperASR, audio: PCM) -> None:
    """One decode as a streaming partial makes it: greedy, word timestamps, token cap."""
    window_s = len(audio) / SAMPLE_RATE
    model.decode(
        int16_to_float32(audio),
        language="en",
        prompt=None,
        beam_size=1,
        greedy_only=True,
        max_new_tokens=min(220, 10 + int(window_s * 8)),
    )


def encoder_pass(model: FasterWhisperASR, audio: PCM) -> None:
    """The encoder alone on ``audio`` padded to Whisper's 30 s input, as every decode runs it."""
    from faster_whisper.audio import pad_or_trim

    whisper = model.model
    whisper.encode(pad_or_trim(whisper.feature_extractor(int16_to_float32(audio))))


def bench_asr(
    models: dict[str, FasterWhisperASR],
    clip: PCM,
    repeat: int,
    windows: tuple[float, ...],
) -> list[Result]:
    duration = len(clip) / SAMPLE_RATE
    out: list[Result] = []
    for name, model in models.items():
        partial_decode(model, clip[:SAMPLE_RATE])  # warm-up
        progress(f"ASR {name}: batch transcribe of {duration:.0f} s × {repeat}")
        rtf = [timed(model.transcribe, clip, ASROptions())[1] / duration for _ in range(repeat)]
        out.append(Result("asr", name, f"batch RTF ({duration:.0f} s, beam 5)", rtf))
        progress(f"ASR {name}: partial decodes × {repeat}")
        for w in windows:
            window = clip[: int(w * SAMPLE_RATE)]
            ms = [timed(partial_decode, model, window)[1] * 1e3 for _ in range(repeat)]
            out.append(Result("asr", name, f"decode {w:g} s window (ms)", ms))
        ms = [timed(encoder_pass, model, clip[:SAMPLE_RATE])[1] * 1e3 for _ in range(repeat)]
        out.append(Result("asr", name, "of which encoder, any window (ms)", ms))
    return out


# --- 2. streaming ---------------------------------------------------------------------------


@dataclass
class StreamRun:
    """One simulated stream: lags of committed words, decode times, final transcript."""

    lags: list[float]
    decodes: list[float]
    final_latency: float
    committed_words: int
    final_words: int
    text: str


def simulate_stream(engine: StreamingWhisper, audio: PCM, cadence: float) -> StreamRun:
    """Feed ``audio`` in 20 ms chunks on a simulated clock; see the module docstring."""
    stream = engine.open_stream(ASROptions())
    chunk, tick = int(CHUNK_S * SAMPLE_RATE), int(cadence * SAMPLE_RATE)
    next_tick, busy_until = tick, 0.0
    committed, emitted = "", []  # emitted: (simulated time, committed length after it)
    decodes: list[float] = []
    for start in range(0, len(audio), chunk):
        piece = audio[start : start + chunk]
        stream.feed(AudioChunk(piece, start))
        fed = start + len(piece)
        now = fed / SAMPLE_RATE
        if fed < next_tick or now < busy_until:
            continue
        deltas, took = timed(stream.partial)
        decodes.append(took)
        busy_until = now + took
        next_tick = (fed // tick + 1) * tick  # requests made while busy coalesce into one
        text = "".join(d.text for d in deltas)
        if text:
            committed += text
            emitted.append((busy_until, len(committed)))
    final_start = max(len(audio) / SAMPLE_RATE, busy_until)
    transcript, took = timed(stream.finalize)
    if not transcript.text.startswith(committed):
        progress(f"WARNING: final text does not start with the deltas: {committed!r}")
    lags = word_lags(transcript.words, emitted)
    return StreamRun(
        lags=lags,
        decodes=decodes,
        final_latency=final_start + took - len(audio) / SAMPLE_RATE,
        committed_words=len(lags),
        final_words=len(transcript.words),
        text=transcript.text,
    )


def word_lags(words: tuple[Word, ...], emitted: list[tuple[float, int]]) -> list[float]:
    """Lag of each committed word: emission time of the delta that completes it − its end.

    The final transcript's words start with the committed ones, and the deltas joined are
    their texts joined (the first one left-stripped), so character offsets map one to the other.
    """
    lags, offset, i = [], 0, 0
    for k, word in enumerate(words):
        offset += len(word.text.lstrip() if k == 0 else word.text)
        while i < len(emitted) and emitted[i][1] < offset:
            i += 1
        if i == len(emitted):
            break
        lags.append(emitted[i][0] - word.end)
    return lags


def bench_streaming(
    configs: dict[str, StreamingWhisper],
    clips: dict[str, PCM],
    cadences: tuple[float, ...],
    repeat: int,
) -> list[Result]:
    out: list[Result] = []
    for clip_name, audio in clips.items():
        references: dict[str, str] = {}
        for config, engine in configs.items():
            final = engine.final_model
            if final.info.model not in references:
                progress(f"streaming {clip_name}: batch reference with {final.info.model}")
                references[final.info.model] = final.transcribe(audio, ASROptions()).text
            reference = references[final.info.model]
            for cadence in cadences:
                progress(f"streaming {clip_name} {config} every {cadence:g} s × {repeat}")
                runs = [simulate_stream(engine, audio, cadence) for _ in range(repeat)]
                item = f"{config} {clip_name} @{cadence:g}s"
                committed = [r.committed_words / max(r.final_words, 1) * 100 for r in runs]
                out += [
                    Result("stream", item, "partial lag (s)", [x for r in runs for x in r.lags], "words"),
                    Result("stream", item, "partial() wall (ms)", [x * 1e3 for r in runs for x in r.decodes], "decodes"),
                    Result("stream", item, "final after audio end (s)", [r.final_latency for r in runs]),
                    Result("stream", item, "words committed by partials (%)", committed),
                    Result("stream", item, "final WER vs batch (%)", [wer(reference, r.text) * 100 for r in runs]),
                ]  # fmt: skip
    return out


# --- 3. VAD ---------------------------------------------------------------------------------


def bench_vad(clip: PCM, repeat: int) -> list[Result]:
    vad, load_s = timed(SileroVAD.load)
    n = len(clip) // FRAME_SAMPLES
    duration = n * FRAME_SAMPLES / SAMPLE_RATE
    progress(f"VAD: {n} frames × {repeat}")
    per_frame: list[float] = []
    rtf: list[float] = []
    for k in range(repeat + 1):  # pass 0 warms up
        stream = vad.open_stream(VADOptions())
        times = []
        for i in range(n):
            frame = clip[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
            times.append(timed(stream.feed, AudioChunk(frame, i * FRAME_SAMPLES))[1])
        if k:
            per_frame += [t * 1e3 for t in times]
            rtf.append(sum(times) / duration)
    batch = [timed(vad.speech_probabilities, clip)[1] / duration for _ in range(repeat)]
    return [
        Result("vad", "silero-vad-v6", "load (s)", [load_s]),
        Result("vad", "silero-vad-v6", "ms per 32 ms frame (stream)", per_frame, "frames"),
        Result("vad", "silero-vad-v6", f"stream RTF ({duration:.0f} s)", rtf),
        Result("vad", "silero-vad-v6", "batch speech_probabilities RTF", batch),
    ]


# --- 4. TTS ---------------------------------------------------------------------------------


def load_tts(name: str, cache: Path) -> Any:
    if name == "piper-joe":
        from engines.tts.piper import PiperTTS

        return PiperTTS(ensure(name, cache))
    from engines.tts.hibari import HibariTTS

    return HibariTTS(ensure(name, cache))


def synth_once(engine: Any, text: str) -> tuple[float, float, float]:
    """Return (time to first chunk, total time, audio seconds) of one synthesis."""
    start = time.perf_counter()
    chunks = engine.synthesize(text)
    first = next(chunks)
    ttfc = time.perf_counter() - start
    samples = len(first) + sum(len(c) for c in chunks)
    return ttfc, time.perf_counter() - start, samples / engine.sample_rate


def bench_tts(names: tuple[str, ...], cache: Path, text: str, repeat: int) -> list[Result]:
    out: list[Result] = []
    for name in names:
        progress(f"TTS {name} × {repeat}")
        engine, load_s = timed(load_tts, name, cache)
        cold_ttfc, _, _ = synth_once(engine, text)
        runs = [synth_once(engine, text) for _ in range(repeat)]
        out += [
            Result("tts", name, "load (s)", [load_s]),
            Result("tts", name, "first-call TTFC (ms)", [cold_ttfc * 1e3]),
            Result("tts", name, "TTFC (ms)", [r[0] * 1e3 for r in runs]),
            Result("tts", name, "RTF (synth / audio)", [r[1] / r[2] for r in runs]),
            Result("tts", name, "audio (s)", [r[2] for r in runs]),
        ]
    return out


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repeats per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run (implies --no-record)")
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    load_start = os.getloadavg()
    repeat = 1 if args.quick else max(args.repeat, 1)
    stream_repeat = min(repeat, STREAM_REPEATS_MAX)
    notes = []
    if stream_repeat < repeat:
        notes.append(
            f"streaming simulation capped at {stream_repeat} repeats (slowest part, "
            f"~2.5 min each); everything else {repeat}"
        )
    if args.quick:
        notes.append("--quick: shorter clips, fewer windows and configurations; not recorded")

    cache = default_cache_dir()
    physics = load_pcm(PHYSICS)
    clip60 = physics[: (20 if args.quick else 60) * SAMPLE_RATE]
    progress("loading Whisper tiny.en and base")
    (tiny, tiny_s), (base, base_s) = load_whisper("tiny.en", cache), load_whisper("base", cache)
    results = [
        Result("asr", "tiny.en", "load (s)", [tiny_s]),
        Result("asr", "base", "load (s)", [base_s]),
    ]
    windows = (1.0, 6.0) if args.quick else WINDOWS_S
    results += bench_asr({"tiny.en": tiny, "base": base}, clip60, repeat, windows)

    configs = {"tiny.en+base": StreamingWhisper(tiny, base)}
    clips = {"jfk": load_pcm(JFK)}
    if not args.quick:
        configs["base+base"] = StreamingWhisper(base, base)
        clips["physics30"] = physics[: 30 * SAMPLE_RATE]
    cadences = (1.0,) if args.quick else CADENCES_S
    results += bench_streaming(configs, clips, cadences, stream_repeat)

    results += bench_vad(clip60, repeat)
    results += bench_tts(("piper-joe", "hibari-heart"), cache, TTS_TEXT, repeat)

    machine = machine_lines(load_start)
    print("\n".join([*machine, *(f"- note: {n}" for n in notes), "", table(results)]))
    if not (args.quick or args.no_record):
        record(results, notes, machine)


if __name__ == "__main__":
    main()
