"""Transcripts on the console: live partials that settle into final lines."""

from __future__ import annotations

import sys
from typing import Any, TextIO


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
            self._rewrite(self._fit(partial.strip()))
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
            self._rewrite(self._fit(pending[1].strip()))
            self._shown = pending[0]

    def _forget(self, item_id: str) -> None:
        if self.live and self._shown == item_id:
            self._rewrite("")
            self._shown = None

    def _rewrite(self, text: str) -> None:
        self.out.write(f"\r\x1b[K{text}")
        self.out.flush()

    @staticmethod
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
