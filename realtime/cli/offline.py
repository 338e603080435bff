"""Commands that run models in this process, no gateway needed: models, transcribe, say."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from realtime.cli.console import EXIT_FAILURE, EXIT_USAGE, print_error, progress_bar
from realtime.cli.options import settings_from

# --- models ---------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    """List the registry's models; prepare them unless ``--check``; exit 1 if any is not ready."""
    from engines import models
    from engines.errors import ModelNotFound

    settings = settings_from(args)
    cache = settings.model_cache_dir
    rows = []
    for name in models.REGISTRY:
        if not args.check:
            with contextlib.suppress(ModelNotFound):  # reported by status() below
                models.ensure(name, cache, progress_bar)
        rows.append(models.status(name, cache))
    if args.json:
        print(json.dumps([_model_json(r) for r in rows], indent=2))
    else:
        _print_model_table(rows, cache)
    return 0 if all(r.state is models.State.READY for r in rows) else EXIT_FAILURE


def _model_json(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind.value,
        "state": row.state.value,
        "path": str(row.path) if row.path else None,
        "bytes": row.size,
        "detail": row.detail,
    }


def _print_model_table(rows: list[Any], cache: Path) -> None:
    from engines import models

    width = max(len(r.name) for r in rows)
    for r in rows:
        size = f"{r.size / 1e6:7.1f} MB" if r.size is not None else " " * 10
        where = str(r.path) if r.state is models.State.READY else r.detail
        print(f"{r.name:<{width}}  {r.kind.value:<8} {r.state.value:<15} {size}  {where}")
    print(f"model cache: {cache}")


# --- transcribe -----------------------------------------------------------------------------


class _Engines(NamedTuple):
    """The models a transcription needs; the optional ones are None when not asked for."""

    asr: Any
    vad: Any
    embedder: Any
    tagger: Any


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Transcribe files with the batch pipeline; text or JSON on stdout, progress on stderr.

    The pipeline is the one ``/submit`` jobs run (:mod:`realtime.batch.pipeline`), so both
    give the same text for the same file.
    """
    from realtime.batch.pipeline import PipelineOptions

    settings = settings_from(args)
    problem = _transcribe_usage_problem(args)
    if problem is not None:
        print_error(problem)
        return EXIT_USAGE
    speakers = args.speakers or args.num_speakers is not None
    engines = _load_engines(settings, speakers=speakers, non_speech=args.non_speech)
    options = PipelineOptions(
        non_speech=args.non_speech,
        diarize=speakers,
        num_speakers=args.num_speakers,
        language=args.language,
        prompt=args.prompt,
        beam_size=settings.asr_beam_size,
    )
    results = []
    for path in args.files:
        show = not args.no_progress and sys.stderr.isatty()
        transcript = _transcribe_one(path, engines, options, show_progress=show)
        text = _transcript_text(transcript, speakers=speakers, non_speech=args.non_speech)
        if args.json:
            results.append(_transcript_json(path, transcript, text))
        else:
            _print_text(path, text, several=len(args.files) > 1)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 0


def _transcribe_usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line (missing files, a bad count), or None."""
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        return f"no such file: {', '.join(missing)}"
    if args.num_speakers is not None and args.num_speakers < 1:
        return "--num-speakers must be at least 1"
    return None


def _load_engines(settings: Any, *, speakers: bool, non_speech: bool) -> _Engines:
    from realtime.inference.loading import load_asr, load_embedder, load_tagger, load_vad

    asr = load_asr(settings, partials=False, progress=progress_bar)
    vad = load_vad(settings)
    embedder = load_embedder(settings) if speakers else None
    tagger = load_tagger(settings) if non_speech else None
    return _Engines(asr, vad, embedder, tagger)


def _transcribe_one(path: Path, engines: _Engines, options: Any, *, show_progress: bool) -> Any:
    """Run the pipeline on one file under a percentage bar on stderr; the transcript."""
    from tqdm import tqdm

    from realtime.batch.pipeline import transcribe_file

    with tqdm(total=100, desc=path.name, unit="%", disable=not show_progress, leave=False) as bar:

        def advance(fraction: float) -> None:
            bar.update(round(fraction * 100 - bar.n, 1))

        return transcribe_file(
            path,
            engines.vad,
            engines.asr,
            options,
            embedder=engines.embedder,
            tagger=engines.tagger,
            label=path.name,
            on_progress=advance,
        )


def _transcript_text(transcript: Any, *, speakers: bool, non_speech: bool) -> str:
    """Plain text, or speaker lines and inline tags when either was asked for."""
    from realtime.batch.render import render_text

    if speakers or non_speech:
        return render_text(transcript.segments, transcript.tags, non_speech=non_speech)
    return transcript.plain_text


def _print_text(path: Path, text: str, *, several: bool) -> None:
    """Print one file's text, headed by its path when several files were given."""
    if several:
        print(f"{path}:\n{text}" if "\n" in text else f"{path}: {text}")
    else:
        print(text)


def _transcript_json(path: Path, t: Any, text: str) -> dict[str, Any]:
    return {
        "file": str(path),
        "duration": round(t.duration, 3),
        "language": t.language,
        "num_speakers": t.num_speakers,
        "text": text,
        "tags": [
            {"tag": g.label, "start": round(g.start, 3), "end": round(g.end, 3)} for g in t.tags
        ],
        "segments": [_segment_json(s) for s in t.segments],
    }


def _segment_json(s: Any) -> dict[str, Any]:
    return {
        "speaker": s.speaker,
        "start": round(s.start, 3),
        "end": round(s.end, 3),
        "text": s.text,
        "words": [
            {
                "word": w.text.strip(),
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "probability": w.probability,
            }
            for w in s.words
        ],
    }


# --- say ------------------------------------------------------------------------------------


def cmd_say(args: argparse.Namespace) -> int:
    """Synthesise TEXT into a WAV file at the engine's sample rate."""
    from realtime.inference.loading import load_tts

    if not args.text.strip():
        print_error("TEXT is empty")
        return EXIT_USAGE
    tts = load_tts(settings_from(args))
    chunks = tts.synthesize(args.text, speed=args.speed)
    frames = _write_speech(args.output, chunks, tts.sample_rate)
    seconds = frames / tts.sample_rate
    print(
        f"wrote {args.output} ({seconds:.2f} s, {tts.sample_rate} Hz, {tts.info.name})",
        file=sys.stderr,
    )
    return 0


def _write_speech(output: Path, chunks: Iterable[Any], rate: int) -> int:
    """Write pcm16 chunks as a mono WAV, replacing ``output`` only once complete.

    Returns:
        The number of frames written.

    Raises:
        EngineError: the engine produced no audio (``output`` is left untouched).
    """
    from engines.errors import EngineError

    tmp = output.with_name(f".{output.name}.partial")
    try:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            frames = 0
            for chunk in chunks:
                out.writeframes(chunk.astype("<i2").tobytes())
                frames += len(chunk)
        if frames == 0:
            raise EngineError("the engine produced no audio for this text")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return frames
