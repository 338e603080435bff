"""Where the session's parts put what they produce: server events and engine commands."""

from __future__ import annotations

from protocol import ErrorDetail, ErrorType, ServerEvent
from protocol import server_events as ev
from realtime.session.commands import Command
from realtime.session.ids import IdFactory


class Outbox:
    """Server events and commands in the order produced, drained by the session's caller.

    Args:
        ids: The session's id factory (event ids come from it too).
    """

    def __init__(self, ids: IdFactory) -> None:
        self.ids = ids
        self._events: list[ServerEvent] = []
        self._commands: list[Command] = []

    def event_id(self) -> str:
        """A fresh server event id."""
        return self.ids("event")

    def send(self, event: ServerEvent) -> None:
        """Queue a server event for the client."""
        self._events.append(event)

    def command(self, command: Command) -> None:
        """Queue a command for the runner."""
        self._commands.append(command)

    def error(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None = None,
        event_id: str | None = None,
        type_: str = ErrorType.INVALID_REQUEST,
    ) -> None:
        """Queue an ``error`` event (``event_id``: the client event it answers)."""
        detail = ErrorDetail(type=type_, code=code, message=message, param=param, event_id=event_id)
        self.send(ev.ErrorEvent(event_id=self.event_id(), error=detail))

    def drain_events(self) -> list[ServerEvent]:
        """The events queued since the last call."""
        out, self._events = self._events, []
        return out

    def drain_commands(self) -> list[Command]:
        """The commands queued since the last call."""
        out, self._commands = self._commands, []
        return out
