"""Commands that talk to a running gateway: ``voxgate listen``, ``chat`` and ``talk``.

The protocol work is :mod:`realtime.cli.client`'s; these functions check the command line,
pick the audio source and sink, and turn client errors into exit statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from realtime.cli import client
from realtime.cli.console import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, print_error


def cmd_listen(args: argparse.Namespace) -> int:
    """Stream a file or the microphone to a gateway; print partial and final transcripts."""
    audio = _audio_source(args)
    if audio is None:
        return EXIT_USAGE
    printer = client.TranscriptPrinter()
    try:
        asyncio.run(client.listen(args.url, args.api_key, audio, printer, language=args.language))
    except client.ClientError as exc:
        print_error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        if not args.mic:
            return EXIT_INTERRUPTED
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Speak each stdin line through a gateway; play the audio or save it as WAV files."""
    if args.mic and _microphone_unavailable():
        return EXIT_USAGE
    microphone = client.microphone_source() if args.mic else None
    device = None if args.out else client.output_device()
    deliver = _ReplySink(device, args.out or Path())
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
        print_error(str(exc))
        return EXIT_FAILURE
    return 0


def cmd_talk(args: argparse.Namespace) -> int:
    """Converse with a gateway from a file or the microphone; print, play or save answers."""
    if args.silence_ms <= 0:
        print_error("--silence-ms must be positive")
        return EXIT_USAGE
    tail_s = args.silence_ms / 1000 + client.TRAILING_SILENCE_S  # the last turn surely ends
    audio = _audio_source(args, trailing_silence_s=tail_s)
    if audio is None:
        return EXIT_USAGE
    device = None if args.out else client.output_device()
    try:
        asyncio.run(
            client.talk(
                args.url,
                args.api_key,
                audio,
                client.ConversationPrinter(),
                device=device,
                on_reply=None if device else _ReplySink(None, args.out or Path()),
                instructions=args.instructions,
                voice=args.voice,
                silence_ms=args.silence_ms,
                fail_fast=not args.mic,
            )
        )
    except client.ClientError as exc:
        print_error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        if not args.mic:
            return EXIT_INTERRUPTED
    return 0


def _audio_source(
    args: argparse.Namespace, *, trailing_silence_s: float = client.TRAILING_SILENCE_S
) -> AsyncIterator[bytes] | None:
    """The audio ``args`` name (``file`` or ``--mic``, ``--fast``); None after a usage error."""
    if args.file is not None and not args.file.is_file():
        print_error(f"no such file: {args.file}")
        return None
    if args.mic and args.fast:
        print_error("--fast applies to files, not --mic")
        return None
    if args.mic:
        if _microphone_unavailable():
            return None
        print("listening; Ctrl-C stops", file=sys.stderr)
        return client.microphone_source()
    speed = None if args.fast else 1.0
    return client.file_source(args.file, speed=speed, trailing_silence_s=trailing_silence_s)


def _microphone_unavailable() -> bool:
    """Whether the microphone cannot be used (the reason printed); checked before connecting."""
    try:
        client.require_sounddevice()
    except client.ClientError as exc:
        print_error(str(exc))
        return True
    return False


class _ReplySink:
    """Plays each spoken reply on ``device``, or saves it as ``reply-NNN.wav`` in ``out_dir``.

    Args:
        device: The ``sounddevice`` module (see :func:`client.output_device`), or None to save.
        out_dir: Where WAV files go when there is no device.
    """

    def __init__(self, device: Any | None, out_dir: Path) -> None:
        self.device = device
        self.out_dir = out_dir
        self.count = 0

    async def __call__(self, reply: client.SpokenReply) -> None:
        self.count += 1
        if reply.status not in ("completed", "cancelled"):  # cancelled: the user spoke over it
            print_error(f"the reply was {reply.status}")
        if self.device is not None:
            await client.play(self.device, reply.audio)
            print(f"spoke {reply.duration:.2f} s: {reply.transcript}", file=sys.stderr)
            return
        path = client.write_wav(self.out_dir / f"reply-{self.count:03d}.wav", reply.audio)
        print(f"wrote {path} ({reply.duration:.2f} s): {reply.transcript}", file=sys.stderr)
