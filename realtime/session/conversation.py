"""The conversation: items in order, and the client events that read or change them."""

from __future__ import annotations

from collections.abc import Iterator

from protocol import (
    AssistantMessage,
    ConversationItemCreate,
    ConversationItemTruncate,
    ErrorCode,
    InputAudio,
    InvalidEvent,
    OutputAudio,
    UserMessage,
)
from protocol import server_events as ev
from protocol.items import ConversationItem
from realtime.session.outbox import Outbox


class Conversation:
    """The ordered items of a realtime session, and what responses produced.

    Args:
        outbox: Where the conversation's events go.
    """

    def __init__(self, outbox: Outbox) -> None:
        self._out = outbox
        self._items: dict[str, ConversationItem] = {}
        self._audio: dict[str, tuple[int, str]] = {}  # generated item → (ms, transcript)
        self._unshown: dict[str, str] = {}  # user audio item → transcript for the responder

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[ConversationItem]:
        return iter(self._items.values())

    def get(self, item_id: str) -> ConversationItem | None:
        """The item ``item_id``, if present."""
        return self._items.get(item_id)

    def last_id(self) -> str | None:
        """The id of the last item, if any."""
        return next(reversed(self._items), None)

    def previous(self, item_id: str) -> str | None:
        """The id of the item before ``item_id`` (None: it is first)."""
        keys = list(self._items)
        index = keys.index(item_id)
        return keys[index - 1] if index > 0 else None

    def find(self, item_id: str) -> ConversationItem:
        """The item ``item_id``.

        Raises:
            InvalidEvent: no such item.
        """
        item = self._items.get(item_id)
        if item is None:
            raise InvalidEvent(
                f"Item with item_id '{item_id}' not found.",
                code=ErrorCode.INVALID_VALUE,
                param="item_id",
            )
        return item

    @property
    def generated_ids(self) -> frozenset[str]:
        """Assistant items that responses produced."""
        return frozenset(self._audio)

    # --- changes the session makes -----------------------------------------------------------

    def append(self, item: ConversationItem) -> str | None:
        """Add ``item`` (which has an id) at the end; return the previous item's id."""
        previous = self.last_id()
        assert item.id is not None
        self._items[item.id] = item
        return previous

    def add_user_audio(self, item_id: str) -> None:
        """Add a committed user audio turn (transcript pending) and announce it."""
        item = UserMessage(id=item_id, status="in_progress", content=[InputAudio(transcript=None)])
        previous = self.append(item)
        self._out.send(
            ev.ConversationItemAdded(
                event_id=self._out.event_id(), previous_item_id=previous, item=item
            )
        )

    def complete_transcript(self, item_id: str, text: str | None) -> None:
        """A user audio turn is complete: store its transcript and send ``item.done``.

        ``text`` is None when the client did not ask for transcription (the item's
        ``transcript`` stays null); ``item.done`` is then sent at once, at the commit.
        """
        item = self._items.get(item_id)
        if not isinstance(item, UserMessage):
            return
        done = item.model_copy(
            update={"status": "completed", "content": [InputAudio(transcript=text)]}
        )
        self._items[item_id] = done
        self._out.send(
            ev.ConversationItemDone(
                event_id=self._out.event_id(), previous_item_id=self.previous(item_id), item=done
            )
        )

    def keep_for_responder(self, item_id: str, text: str) -> None:
        """The transcript of a user audio turn the client did not ask to see.

        The item the client sees keeps ``transcript: null``; :meth:`for_responder` fills it.
        """
        if isinstance(self._items.get(item_id), UserMessage):
            self._unshown[item_id] = text

    def for_responder(self, item: ConversationItem) -> ConversationItem:
        """``item`` as the responder reads it: with a transcript kept only for it, if any."""
        text = self._unshown.get(item.id) if item.id is not None else None
        if text is None or not isinstance(item, UserMessage):
            return item
        content = [
            part.model_copy(update={"transcript": text}) if isinstance(part, InputAudio) else part
            for part in item.content
        ]
        return item.model_copy(update={"content": content})

    def start_output(
        self, response_id: str, output_index: int, item: ConversationItem, *, in_band: bool
    ) -> None:
        """A response's output item begins: send ``response.output_item.added``.

        In band, the item is appended to the conversation and ``conversation.item.added``
        follows.
        """
        self._out.send(
            ev.ResponseOutputItemAdded(
                event_id=self._out.event_id(),
                response_id=response_id,
                output_index=output_index,
                item=item,
            )
        )
        if in_band:
            previous = self.append(item)
            self._out.send(
                ev.ConversationItemAdded(
                    event_id=self._out.event_id(), previous_item_id=previous, item=item
                )
            )

    def finish_output(
        self, response_id: str, output_index: int, item: ConversationItem, *, in_band: bool
    ) -> None:
        """A response's output item is final: send ``response.output_item.done``.

        In band, the stored item (if still present) is replaced and ``conversation.item.done``
        follows.
        """
        self._out.send(
            ev.ResponseOutputItemDone(
                event_id=self._out.event_id(),
                response_id=response_id,
                output_index=output_index,
                item=item,
            )
        )
        if not in_band or item.id is None or item.id not in self._items:
            return
        self._items[item.id] = item
        self._out.send(
            ev.ConversationItemDone(
                event_id=self._out.event_id(), previous_item_id=self.previous(item.id), item=item
            )
        )

    def record_generated(self, item_id: str, audio_ms: int, transcript: str) -> None:
        """Remember what a response produced for its item (truncation clamps to it)."""
        self._audio[item_id] = (audio_ms, transcript)

    # --- client events -------------------------------------------------------------------------

    def create(self, event: ConversationItemCreate) -> None:
        """``conversation.item.create``: insert the item and announce it.

        Raises:
            InvalidEvent: duplicate id, or an unknown ``previous_item_id``.
        """
        item = event.item
        item_id = item.id or self._out.ids("item")
        if item_id in self._items:
            raise InvalidEvent(
                f"Item with id '{item_id}' already exists.",
                code=ErrorCode.INVALID_VALUE,
                param="item.id",
            )
        previous = event.previous_item_id
        if previous not in (None, "root") and previous not in self._items:
            raise InvalidEvent(
                f"Previous item with id '{previous}' not found.",
                code=ErrorCode.INVALID_VALUE,
                param="previous_item_id",
            )
        stored = item.model_copy(update={"id": item_id, "status": "completed"})
        self._insert(stored, after=previous)
        prev_id = self.previous(item_id)
        for done in (False, True):
            kind = ev.ConversationItemDone if done else ev.ConversationItemAdded
            self._out.send(
                kind(event_id=self._out.event_id(), previous_item_id=prev_id, item=stored)
            )

    def _insert(self, item: ConversationItem, *, after: str | None) -> None:
        assert item.id is not None
        if after is None:
            self._items[item.id] = item
            return
        entries = list(self._items.items())
        at = 0 if after == "root" else [k for k, _ in entries].index(after) + 1
        entries.insert(at, (item.id, item))
        self._items = dict(entries)

    def retrieve(self, item_id: str) -> None:
        """``conversation.item.retrieve``. Raises InvalidEvent for an unknown item."""
        item = self.find(item_id)
        self._out.send(ev.ConversationItemRetrieved(event_id=self._out.event_id(), item=item))

    def delete(self, item_id: str) -> None:
        """``conversation.item.delete``. Raises InvalidEvent for an unknown item."""
        self.find(item_id)
        del self._items[item_id]
        self._unshown.pop(item_id, None)
        self._out.send(ev.ConversationItemDeleted(event_id=self._out.event_id(), item_id=item_id))

    def truncate(self, event: ConversationItemTruncate) -> None:
        """``conversation.item.truncate``: keep the part of an audio item the user heard.

        The cut is clamped to the audio produced (reference §10); the transcript is cut in
        proportion. The caller cancels the item's response first if it is still running.

        Raises:
            InvalidEvent: unknown item, or not an assistant message with audio.
        """
        item = self.truncatable(event.item_id)
        produced_ms, transcript = self._audio.get(event.item_id, (0, ""))
        cut_ms = min(event.audio_end_ms, produced_ms)
        kept = transcript[: round(len(transcript) * cut_ms / produced_ms)] if produced_ms else ""
        self._items[event.item_id] = item.model_copy(
            update={"content": [OutputAudio(transcript=kept)]}
        )
        self._out.send(
            ev.ConversationItemTruncated(
                event_id=self._out.event_id(),
                item_id=event.item_id,
                content_index=event.content_index,
                audio_end_ms=cut_ms,
            )
        )

    def truncatable(self, item_id: str) -> AssistantMessage:
        """The assistant audio item ``item_id``. Raises InvalidEvent for any other item."""
        item = self.find(item_id)
        if not isinstance(item, AssistantMessage) or not any(
            isinstance(c, OutputAudio) for c in item.content
        ):
            raise InvalidEvent(
                "Only assistant messages with audio can be truncated.",
                code=ErrorCode.INVALID_VALUE,
                param="item_id",
            )
        return item
