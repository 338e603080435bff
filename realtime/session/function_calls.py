"""Function calls in a response's output: their items and argument events.

A responder streams a call as :class:`~realtime.session.replies.FunctionCallDelta` parts.
The first part of a call announces a ``function_call`` item (``response.output_item.added``
and, in the conversation, ``conversation.item.added``); every part's arguments go out as
``response.function_call_arguments.delta``. A call is closed when the next call starts or
the reply ends (``…arguments.done``, ``response.output_item.done``,
``conversation.item.done``); a cancelled or failed response closes its calls
``incomplete``. The client runs the function and answers with a ``function_call_output``
item, then ``response.create``.
"""

from __future__ import annotations

import json

from protocol import FunctionCall
from protocol import server_events as ev
from realtime.session.conversation import Conversation
from realtime.session.outbox import Outbox
from realtime.session.replies import FunctionCallDelta
from realtime.session.response_state import CallRecord, ResponseRecord


class FunctionCalls:
    """Sends the events of responses' function-call items.

    Args:
        outbox: Where events go.
        conversation: The session's items (in-band calls are added to it).
    """

    def __init__(self, outbox: Outbox, conversation: Conversation) -> None:
        self._out = outbox
        self._conversation = conversation

    def add(self, response: ResponseRecord, part: FunctionCallDelta) -> None:
        """Stream ``part``: a new ``call_id`` closes the open call and announces its own."""
        call = response.calls[-1] if response.calls else None
        if call is None or call.call_id != part.call_id:
            if call is not None:
                self._close(response, call, completed=True)
            call = self._announce(response, part)
        if part.arguments:
            call.arguments += part.arguments
            self._out.send(
                ev.ResponseFunctionCallArgumentsDelta(
                    event_id=self._out.event_id(),
                    response_id=response.id,
                    item_id=call.item_id,
                    output_index=call.output_index,
                    call_id=call.call_id,
                    delta=part.arguments,
                )
            )

    def close_all(self, response: ResponseRecord, *, completed: bool) -> None:
        """Close every open call of ``response`` (``completed`` or ``incomplete``)."""
        for call in response.calls:
            if not call.done:
                self._close(response, call, completed=completed)

    @staticmethod
    def malformed(response: ResponseRecord) -> str | None:
        """Why a call's arguments are not a JSON object (None when every call's are)."""
        for call in response.calls:
            try:
                arguments = json.loads(call.arguments or "{}")
            except json.JSONDecodeError as exc:
                return f"The model gave malformed JSON arguments for {call.name!r}: {exc.msg}."
            if not isinstance(arguments, dict):
                return f"The model's arguments for {call.name!r} are not a JSON object."
        return None

    @staticmethod
    def item(call: CallRecord, *, completed: bool) -> FunctionCall:
        """The ``function_call`` item of ``call``."""
        return FunctionCall(
            id=call.item_id,
            status="completed" if completed else "incomplete",
            call_id=call.call_id,
            name=call.name,
            arguments=call.arguments,
        )

    def _announce(self, response: ResponseRecord, part: FunctionCallDelta) -> CallRecord:
        call = CallRecord(
            item_id=self._out.ids("item"),
            call_id=part.call_id,
            name=part.name,
            output_index=response.outputs,
        )
        response.outputs += 1
        response.calls.append(call)
        item = FunctionCall(
            id=call.item_id,
            status="in_progress",
            call_id=call.call_id,
            name=call.name,
            arguments="",
        )
        self._conversation.start_output(
            response.id, call.output_index, item, in_band=not response.out_of_band
        )
        return call

    def _close(self, response: ResponseRecord, call: CallRecord, *, completed: bool) -> None:
        call.done = True
        self._out.send(
            ev.ResponseFunctionCallArgumentsDone(
                event_id=self._out.event_id(),
                response_id=response.id,
                item_id=call.item_id,
                output_index=call.output_index,
                call_id=call.call_id,
                name=call.name,
                arguments=call.arguments,
            )
        )
        self._conversation.finish_output(
            response.id,
            call.output_index,
            self.item(call, completed=completed),
            in_band=not response.out_of_band,
        )
