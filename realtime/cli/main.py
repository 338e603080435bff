"""The ``voxgate`` command line (also ``python -m realtime``).

Commands: ``serve``, ``worker``, ``models``, ``keys create|list|revoke``,
``transcribe FILE…``, ``say TEXT -o out.wav``; ``listen FILE|--mic`` and ``chat`` talk to a
running gateway (:mod:`realtime.cli.client`). Options override ``VOXGATE_*`` environment
variables, which override defaults (see :mod:`realtime.server.settings`). Errors print one line on stderr and exit
with status 2 (usage and configuration) or 1 (failures while working).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import typing
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from realtime import __version__

EXIT_FAILURE = 1
EXIT_USAGE = 2


# --- argument parsing -----------------------------------------------------------------------


SERVER_SETTINGS = (
    "host",
    "port",
    "log_level",
    "log_format",
    "workers",
    "max_upload_bytes",
    "responder",
    "max_sessions",
    "max_sessions_per_key",
    "max_session_seconds",
    "client_secret_ttl_s",
    "inference_workers",
    "demo",
    "rate_limit_per_minute",
    "cors_origins",
)
DATA_SETTINGS = ("data_dir",)
BATCH_SETTINGS = (
    "database_url",
    "batch_workers",
    "batch_lease_s",
    "batch_max_attempts",
    "max_audio_seconds",
    "signed_url_ttl_s",
    "public_url",
)
MODEL_SETTINGS = (
    "model_cache_dir",
    "asr_engine",
    "asr_model",
    "asr_final_model",
    "asr_device",
    "asr_compute_type",
    "asr_threads",
    "asr_beam_size",
    "vad_model",
    "tts_engine",
    "tts_voice",
    "tagger_model",
    "embedder_model",
)


def _setting_flags(title: str, names: Sequence[str]) -> argparse.ArgumentParser:
    """A parent parser with one ``--flag`` per settings field, typed from the field.

    Flags default to None ("not given"), so the environment and defaults still apply.
    """
    from realtime.server.settings import Settings

    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(title)
    for name in names:
        field = Settings.model_fields[name]
        kind = field.annotation
        options: dict[str, Any] = {"help": f"{field.description} [VOXGATE_{name.upper()}]"}
        if typing.get_origin(kind) is typing.Literal:
            options["choices"] = typing.get_args(kind)
        elif kind in (int, float, Path):
            options["type"] = kind
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, **options)
    return parent


def _server_options() -> argparse.ArgumentParser:
    return _setting_flags("server", SERVER_SETTINGS)


def _data_options() -> argparse.ArgumentParser:
    return _setting_flags("data", DATA_SETTINGS)


def _batch_options() -> argparse.ArgumentParser:
    return _setting_flags("batch jobs", BATCH_SETTINGS)


def _model_options() -> argparse.ArgumentParser:
    return _setting_flags(
        "models (a registry name from `voxgate models`, or a path)", MODEL_SETTINGS
    )


def build_parser() -> argparse.ArgumentParser:
    """The full ``voxgate`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="voxgate",
        description="Self-hosted realtime voice gateway (OpenAI Realtime API + batch transcription).",
    )
    parser.add_argument("--version", action="version", version=f"voxgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        parents=[_server_options(), _data_options(), _batch_options(), _model_options()],
        help="run the gateway",
        description="Run the gateway. Creates and prints an API key on first run. With "
        "--workers N, N server processes share the port (SO_REUSEPORT); the parent restarts "
        "a worker that dies, forwards SIGTERM/SIGINT, and on SIGHUP replaces the workers one "
        "at a time (a new one listens before an old one drains and stops).",
    )
    serve.set_defaults(handler=cmd_serve)

    models = sub.add_parser(
        "models",
        parents=[_model_options()],
        help="list models, where they are and whether they are ready",
        description="List every model. Prepares those that need it (joining Whisper base, "
        "unpacking YAMNet) unless --check is given.",
    )
    models.add_argument("--check", action="store_true", help="only inspect; exit 1 if not ready")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=cmd_models)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k_create = keys_sub.add_parser("create", parents=[_data_options()], help="create a key")
    k_create.add_argument("--name", default="default", help="a label for the key")
    k_create.set_defaults(handler=cmd_keys_create)
    k_list = keys_sub.add_parser("list", parents=[_data_options()], help="list keys")
    k_list.add_argument("--json", action="store_true", help="print JSON")
    k_list.set_defaults(handler=cmd_keys_list)
    k_revoke = keys_sub.add_parser("revoke", parents=[_data_options()], help="revoke a key")
    k_revoke.add_argument("key_id", metavar="ID", help="the key's id (or the whole key)")
    k_revoke.set_defaults(handler=cmd_keys_revoke)

    tr = sub.add_parser(
        "transcribe",
        parents=[_model_options()],
        help="transcribe audio files offline",
        description="Transcribe audio files (any format FFmpeg reads) with the final model.",
    )
    tr.add_argument("files", nargs="+", type=Path, metavar="FILE")
    tr.add_argument("--language", help="force a language (ISO 639-1); default: detect")
    tr.add_argument("--prompt", help="text that conditions the decoder (names, vocabulary)")
    tr.add_argument(
        "--speakers",
        action="store_true",
        help="diarize: print one 'SPEAKER_N: …' line per speaker turn",
    )
    tr.add_argument(
        "--num-speakers",
        type=int,
        metavar="N",
        help="the number of speakers, when known (implies --speakers)",
    )
    tr.add_argument(
        "--non-speech",
        action="store_true",
        help="keep fillers and put [laugh], [breath], [pause] … and prosody marks inline",
    )
    tr.add_argument("--json", action="store_true", help="print JSON with segments and words")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(handler=cmd_transcribe)

    worker = sub.add_parser(
        "worker",
        parents=[
            _setting_flags("worker", ("log_level", "log_format", "inference_workers")),
            _data_options(),
            _batch_options(),
            _model_options(),
        ],
        help="run batch workers only (scale-out)",
        description="Process batch jobs from the queue without serving HTTP. With a "
        "PostgreSQL --database-url, workers on several machines share one queue (they must "
        "share the data directory too). Stops on SIGINT/SIGTERM, returning running jobs.",
    )
    worker.set_defaults(handler=cmd_worker)

    say = sub.add_parser(
        "say",
        parents=[_model_options()],
        help="synthesise speech to a WAV file",
        description="Speak TEXT with the configured TTS engine into a 16-bit mono WAV.",
    )
    say.add_argument("text", metavar="TEXT")
    say.add_argument("-o", "--output", type=Path, required=True, help="WAV file to write")
    say.add_argument("--speed", type=float, default=1.0, help="speaking rate (default 1.0)")
    say.set_defaults(handler=cmd_say)

    listen = sub.add_parser(
        "listen",
        parents=[_client_options()],
        help="stream a file or the microphone to a running gateway; print live transcripts",
        description="Stream audio to a running gateway's realtime API and print live partial "
        "transcripts that settle into final lines (rewritten in place on a terminal; "
        "'partial: ' lines otherwise). A file plays at real-time pace unless --fast.",
    )
    source = listen.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, metavar="FILE", help="any audio file")
    source.add_argument(
        "--mic", action="store_true", help="the default microphone (needs sounddevice)"
    )
    listen.add_argument(
        "--fast",
        action="store_true",
        help="send a file as fast as possible (the server then finalizes whole utterances "
        "at once, so few or no partials appear)",
    )
    listen.add_argument("--language", help="force a language (ISO 639-1); default: detect")
    listen.set_defaults(handler=cmd_listen)

    chat = sub.add_parser(
        "chat",
        parents=[_client_options()],
        help="type lines for a running gateway to speak",
        description="Each line typed (or piped) on stdin is spoken by the gateway. The audio "
        "plays when a sound device exists (sounddevice), otherwise it is saved as WAV "
        "files in --out. With --mic, what the microphone hears is transcribed too.",
    )
    chat.add_argument(
        "--out", type=Path, help="save replies as WAV files here (default: play, else '.')"
    )
    chat.add_argument("--voice", help="a voice name; default: the server's")
    chat.add_argument("--mic", action="store_true", help="also transcribe the microphone")
    chat.set_defaults(handler=cmd_chat)
    return parser


def _client_options() -> argparse.ArgumentParser:
    """``--url`` and ``--api-key`` for commands that talk to a running gateway."""
    from realtime.cli.client import DEFAULT_URL

    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("gateway")
    group.add_argument(
        "--url",
        default=os.environ.get("VOXGATE_URL", DEFAULT_URL),
        help=f"the gateway's base URL [VOXGATE_URL] (default: {DEFAULT_URL})",
    )
    group.add_argument(
        "--api-key",
        default=os.environ.get("VOXGATE_API_KEY"),
        help="an API key from `voxgate keys create` [VOXGATE_API_KEY]",
    )
    return parent


def settings_from(args: argparse.Namespace) -> Any:
    """Settings from the environment, overridden by whichever flags the command has."""
    from realtime.server.settings import load

    names = (*SERVER_SETTINGS, *DATA_SETTINGS, *BATCH_SETTINGS, *MODEL_SETTINGS)
    return load(**{name: getattr(args, name, None) for name in names})


def _err(message: str) -> None:
    print(f"voxgate: error: {message}", file=sys.stderr)


@contextlib.contextmanager
def _progress_bar(total: int, desc: str) -> Iterator[Any]:
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False) as bar:
        yield bar


# --- commands -------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the gateway."""
    from realtime.inference.loading import check_models
    from realtime.server.app import serve
    from realtime.server.logs import configure as configure_logging

    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    check_models(settings, progress=_progress_bar)
    if settings.workers > 1:
        from realtime.server.supervisor import supervise

        return supervise(settings)
    serve(settings)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the registry and the configured models; prepare unless --check."""
    from engines import models
    from engines.errors import ModelNotFound

    settings = settings_from(args)
    cache = settings.model_cache_dir
    rows = []
    for name in models.REGISTRY:
        if not args.check:
            with contextlib.suppress(ModelNotFound):  # reported by status() below
                models.ensure(name, cache, _progress_bar)
        rows.append(models.status(name, cache))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "kind": r.kind.value,
                        "state": r.state.value,
                        "path": str(r.path) if r.path else None,
                        "bytes": r.size,
                        "detail": r.detail,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
    else:
        width = max(len(r.name) for r in rows)
        for r in rows:
            size = f"{r.size / 1e6:7.1f} MB" if r.size is not None else " " * 10
            where = str(r.path) if r.state is models.State.READY else r.detail
            print(f"{r.name:<{width}}  {r.kind.value:<8} {r.state.value:<15} {size}  {where}")
        print(f"model cache: {cache}")
    return 0 if all(r.state is models.State.READY for r in rows) else EXIT_FAILURE


def _keystore(args: argparse.Namespace) -> Any:
    from realtime.auth.keys import KeyStore

    return KeyStore(settings_from(args).database_path)


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create a key and print it once."""
    record, plaintext = _keystore(args).create(args.name)
    print(plaintext)
    print(f"created key {record.id} ({record.name}); it is shown only now", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    """List keys (ids and names, never secrets)."""
    import datetime as dt

    keys = _keystore(args).list()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": k.id,
                        "name": k.name,
                        "created_at": k.created_at,
                        "revoked_at": k.revoked_at,
                    }
                    for k in keys
                ],
                indent=2,
            )
        )
        return 0
    for k in keys:
        created = dt.datetime.fromtimestamp(k.created_at).isoformat(timespec="seconds")
        print(f"{k.id}  {'active ' if k.active else 'revoked'}  {created}  {k.name}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a key."""
    if not _keystore(args).revoke(args.key_id):
        _err(f"no active key {args.key_id!r}")
        return EXIT_FAILURE
    print(f"revoked {args.key_id}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Transcribe files with the batch pipeline; text or JSON on stdout, progress on stderr.

    The pipeline is the one ``/submit`` jobs run (:mod:`realtime.batch.pipeline`), so both
    give the same text for the same file.
    """
    from tqdm import tqdm

    from realtime.batch.pipeline import PipelineOptions, render_text, transcribe_file
    from realtime.inference.loading import load_asr, load_embedder, load_tagger, load_vad

    settings = settings_from(args)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        _err(f"no such file: {', '.join(missing)}")
        return EXIT_USAGE
    if args.num_speakers is not None and args.num_speakers < 1:
        _err("--num-speakers must be at least 1")
        return EXIT_USAGE
    speakers = args.speakers or args.num_speakers is not None
    asr = load_asr(settings, partials=False, progress=_progress_bar)
    vad = load_vad(settings)
    embedder = load_embedder(settings) if speakers else None
    tagger = load_tagger(settings) if args.non_speech else None
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
        with tqdm(total=100, desc=path.name, unit="%", disable=not show, leave=False) as bar:

            def advance(fraction: float, bar: Any = bar) -> None:
                bar.update(round(fraction * 100 - bar.n, 1))

            transcript = transcribe_file(
                path,
                vad,
                asr,
                options,
                embedder=embedder,
                tagger=tagger,
                label=path.name,
                on_progress=advance,
            )
        text = transcript.plain_text
        if speakers or args.non_speech:
            text = render_text(transcript.segments, transcript.tags, non_speech=args.non_speech)
        if args.json:
            results.append(_transcript_json(path, transcript, text))
        elif len(args.files) > 1:
            print(f"{path}:\n{text}" if "\n" in text else f"{path}: {text}")
        else:
            print(text)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 0


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
        "segments": [
            {
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
            for s in t.segments
        ],
    }


def cmd_worker(args: argparse.Namespace) -> int:
    """Run batch workers only (scale-out): claim jobs from the shared queue until stopped."""
    from realtime.batch.worker import run_workers
    from realtime.inference.loading import check_models
    from realtime.server.errors import ConfigurationError
    from realtime.server.logs import configure as configure_logging

    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.batch_workers < 1:
        raise ConfigurationError("voxgate worker needs --batch-workers 1 or more")
    check_models(settings, progress=_progress_bar)
    run_workers(settings)
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    """Synthesise TEXT into a WAV file at the engine's sample rate."""
    from engines.errors import EngineError
    from realtime.inference.loading import load_tts

    if not args.text.strip():
        _err("TEXT is empty")
        return EXIT_USAGE
    tts = load_tts(settings_from(args))
    chunks = tts.synthesize(args.text, speed=args.speed)
    tmp = args.output.with_name(f".{args.output.name}.partial")
    try:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(tts.sample_rate)
            frames = 0
            for chunk in chunks:
                out.writeframes(chunk.astype("<i2").tobytes())
                frames += len(chunk)
        if frames == 0:
            raise EngineError("the engine produced no audio for this text")
        tmp.replace(args.output)
    finally:
        tmp.unlink(missing_ok=True)
    seconds = frames / tts.sample_rate
    print(
        f"wrote {args.output} ({seconds:.2f} s, {tts.sample_rate} Hz, {tts.info.name})",
        file=sys.stderr,
    )
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    """Stream a file or the microphone to a gateway; print partial and final transcripts."""
    import asyncio

    from realtime.cli import client

    if args.file is not None and not args.file.is_file():
        _err(f"no such file: {args.file}")
        return EXIT_USAGE
    if args.mic and args.fast:
        _err("--fast applies to files, not --mic")
        return EXIT_USAGE
    if args.mic:
        try:
            client.require_sounddevice()  # fail before connecting
        except client.ClientError as exc:
            _err(str(exc))
            return EXIT_USAGE
        audio = client.microphone_source()
        print("listening; Ctrl-C stops", file=sys.stderr)
    else:
        audio = client.file_source(args.file, speed=None if args.fast else 1.0)
    printer = client.TranscriptPrinter()
    try:
        asyncio.run(client.listen(args.url, args.api_key, audio, printer, language=args.language))
    except client.ClientError as exc:
        _err(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        if not args.mic:
            return 130
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Speak each stdin line through a gateway; play the audio or save it as WAV files."""
    import asyncio

    from realtime.cli import client

    if args.mic:
        try:
            client.require_sounddevice()  # fail before connecting
        except client.ClientError as exc:
            _err(str(exc))
            return EXIT_USAGE
    microphone = client.microphone_source() if args.mic else None
    device = None if args.out else client.output_device()
    out_dir: Path = args.out or Path()
    count = 0

    async def deliver(reply: client.SpokenReply) -> None:
        nonlocal count
        count += 1
        if reply.status != "completed":
            _err(f"the reply was {reply.status}")
        if device is not None:
            await client.play(device, reply.audio)
            print(f"spoke {reply.duration:.2f} s: {reply.transcript}", file=sys.stderr)
            return
        path = client.write_wav(out_dir / f"reply-{count:03d}.wav", reply.audio)
        print(f"wrote {path} ({reply.duration:.2f} s): {reply.transcript}", file=sys.stderr)

    printer = client.TranscriptPrinter()
    try:
        asyncio.run(
            client.chat(
                args.url,
                args.api_key,
                client.stdin_lines("> " if sys.stdin.isatty() else None),
                deliver,
                printer,
                microphone=microphone,
                voice=args.voice,
            )
        )
    except client.ClientError as exc:
        _err(str(exc))
        return EXIT_FAILURE
    return 0


# --- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (also used by the console script)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    from engines.errors import AudioDecodeError, EngineError, ModelNotFound
    from realtime.server.errors import GatewayError

    try:
        return int(args.handler(args))
    except (ModelNotFound, GatewayError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        _err(f"invalid setting {where}: {first['msg']}")
        return EXIT_USAGE
    except (AudioDecodeError, EngineError, OSError) as exc:
        _err(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
