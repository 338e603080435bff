"""Transcripts on the console: live partials that settle into final lines; conversations."""

from __future__ import annotations

import sys
from typing import Any, Literal, TextIO


class TranscriptPrinter:
    """Prints live partial transcripts that settle into final lines.

    On a terminal (``live``) the current partial rewrites one line in place and the final
    replaces it. Otherwise every partial is its own line prefixed with ``partial:`` and the
    final follows as a plain line, so logs and pipes stay readable.

    Not thread-safe: call from one task.

    Args:
        out: Where to print (default: ``sys.stdout``).
        live: Rewrite lines in place; default: whether ``out`` is a terminal.
    """

    PARTIAL_PREFIX = "partial: "

    def __init__(self, out: TextIO | None = None, *, live: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.finals: list[str] = []
        self._partials: dict[str, str] = {}
        self._shown: str | None = None  # the item whose partial is on the live line

    def delta(self, item_id: str, text: str) -> None:
        """Extend an item's partial transcript by an append-only ``text`` delta."""
        partial = self._partials.get(item_id, "") + text
        self._partials[item_id] = partial
        if not text:
            return
        if self.live:
            self._rewrite(_fit(partial.strip()))
            self._shown = item_id
        else:
            print(f"{self.PARTIAL_PREFIX}{partial.strip()}", file=self.out, flush=True)

    def final(self, item_id: str, text: str) -> None:
        """Print an item's final transcript on its own line (empty transcripts print nothing)."""
        self._partials.pop(item_id, None)
        text = text.strip()
        if text:
            self.finals.append(text)
        if text:
            self.line(text)
        else:
            self._forget(item_id)

    def line(self, text: str) -> None:
        """Print a whole line without disturbing a partial in progress (reprinted below it)."""
        if not self.live:
            print(text, file=self.out, flush=True)
            return
        self._rewrite(text + "\n")
        self._shown = None
        pending = next(reversed(self._partials.items()), None)
        if pending and pending[1].strip():
            self._rewrite(_fit(pending[1].strip()))
            self._shown = pending[0]

    def _forget(self, item_id: str) -> None:
        if self.live and self._shown == item_id:
            self._rewrite("")
            self._shown = None

    def _rewrite(self, text: str) -> None:
        self.out.write(f"\r\x1b[K{text}")
        self.out.flush()


class ConversationPrinter:
    """Prints a spoken conversation: the user's turns and the assistant's words as they stream.

    A user turn prints as ``you: …`` once its final transcript is in; on a terminal
    (``live``) its partial transcript shows meanwhile on a line rewritten in place. The
    assistant's transcript prints as ``voxgate: …`` piece by piece as it arrives; its line
    ends when the reply's transcript is done, or when something else has to print.

    Not thread-safe: call from one task.

    Args:
        out: Where to print (default: ``sys.stdout``).
        live: Show partial user transcripts in place; default: whether ``out`` is a terminal.
    """

    USER = "you: "
    ASSISTANT = "voxgate: "

    def __init__(self, out: TextIO | None = None, *, live: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.finals: list[str] = []
        self._partials: dict[str, str] = {}
        self._open: Literal["partial", "assistant"] | None = None  # the unfinished line
        self._speaking: str | None = None  # the assistant item whose line is open

    def user_delta(self, item_id: str, text: str) -> None:
        """Extend a user turn's partial transcript (shown only when ``live``)."""
        partial = self._partials.get(item_id, "") + text
        self._partials[item_id] = partial
        if not (self.live and partial.strip()):
            return
        self._end_line()
        self._write(f"\r\x1b[K{_fit(self.USER + partial.strip())}")
        self._open = "partial"

    def user_final(self, item_id: str, text: str) -> None:
        """Print a user turn's final transcript as ``you: …`` (an empty one prints nothing)."""
        self._partials.pop(item_id, None)
        self._end_line()
        if text := text.strip():
            self.finals.append(text)
            self._write(f"{self.USER}{text}\n")

    def assistant_delta(self, item_id: str, text: str) -> None:
        """Print the next piece of an assistant item's transcript (a new item starts a line)."""
        if not text:
            return
        if self._speaking == item_id:
            self._write(text)
            return
        self._end_line()
        self._write(self.ASSISTANT + text.lstrip())
        self._open, self._speaking = "assistant", item_id

    def assistant_done(self, item_id: str) -> None:
        """End the line of an assistant item whose transcript is complete."""
        if self._speaking == item_id:
            self._end_line()

    def interrupted(self, heard_s: float) -> None:
        """Note that the user cut the assistant off after ``heard_s`` seconds of its speech."""
        self._end_line()
        self._write(f"[interrupted after {heard_s:.1f} s]\n")

    def _end_line(self) -> None:
        if self._open == "assistant":
            self._write("\n")
        elif self._open == "partial":
            self._write("\r\x1b[K")
        self._open = self._speaking = None

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _fit(text: str) -> str:
    """The tail of ``text`` that fits one terminal line (a wrapped line cannot be rewritten)."""
    import shutil

    width = max(20, shutil.get_terminal_size().columns - 1)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def show_transcript(event: dict[str, Any], printer: TranscriptPrinter) -> None:
    """Route transcription events to the printer; report failures and errors on stderr."""
    kind = event["type"]
    if kind == "conversation.item.input_audio_transcription.delta":
        printer.delta(event["item_id"], event.get("delta") or "")
    elif kind == "conversation.item.input_audio_transcription.completed":
        printer.final(event["item_id"], event.get("transcript") or "")
    elif kind == "conversation.item.input_audio_transcription.failed":
        printer.final(event["item_id"], "")
        message = event.get("error", {}).get("message", "transcription failed")
        print(f"voxgate: warning: {message}", file=sys.stderr)
    elif kind == "error":
        print(f"voxgate: server error: {event['error'].get('message')}", file=sys.stderr)
