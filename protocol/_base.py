"""Base configuration shared by every protocol model.

Contract of :class:`EventModel` (and so of every event, session and item model here):

* **Frozen.** Instances never change after validation; build a new one to change a field.
* **Strict types.** ``"5"`` is not an integer and ``1`` is not a string, on the wire and in
  Python constructors alike. Integers are accepted where a float is expected (JSON has
  one number type). NaN and infinities are rejected.
* **Unknown fields are ignored**, so a client written against a newer API than ours still
  parses. What we do not model is dropped, never echoed back.
* **Explicit nulls are serialised.** The reference protocol sends ``null`` on purpose (for
  example ``previous_item_id`` on the first item, ``transcript`` on a fresh audio part), so
  nothing excludes ``None`` globally. A model that must *omit* a field when it is ``None``
  (the OpenAI server leaves it out) lists it in ``__omit_if_none__`` and derives from
  :class:`OmitNoneModel`.
* **Discriminators always count as set.** ``type`` and ``role``, when typed as a one-value
  ``Literal``, are kept by ``model_dump(exclude_unset=True)`` even when they came from
  their defaults, so partial dumps (used to merge ``session.update`` and to send client
  events) stay self-describing.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

__all__ = ["MAX_EVENT_ID_LENGTH", "ClientEventId", "EventModel", "OmitNoneModel"]


class EventModel(BaseModel):
    """Base of all protocol models: frozen, strict, tolerant of unknown fields."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
    )

    def model_post_init(self, context: Any, /) -> None:
        """Mark the discriminators as set, so ``exclude_unset`` dumps keep them."""
        self.__pydantic_fields_set__.update(_constant_fields(type(self)))


_DISCRIMINATORS = ("type", "role")
_CONSTANTS: dict[type[BaseModel], frozenset[str]] = {}


def _constant_fields(cls: type[BaseModel]) -> frozenset[str]:
    """``cls``'s discriminator fields typed as a one-value ``Literal`` (cached per class)."""
    names = _CONSTANTS.get(cls)
    if names is None:
        fields = cls.model_fields
        names = frozenset(
            name
            for name in _DISCRIMINATORS
            if name in fields
            and get_origin(fields[name].annotation) is Literal
            and len(get_args(fields[name].annotation)) == 1
        )
        _CONSTANTS[cls] = names
    return names


class OmitNoneModel(EventModel):
    """An :class:`EventModel` that leaves the fields named in ``__omit_if_none__`` out when ``None``.

    Use it only where the OpenAI server omits a field instead of sending ``null`` (for
    example ``audio`` on a content part that carries no audio payload).
    """

    __omit_if_none__: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.__omit_if_none__:
            if name in data and data[name] is None:
                del data[name]
        return data


MAX_EVENT_ID_LENGTH = 512
"""Longest client ``event_id`` accepted (reference §3, SPEC ``maxLength: 512``)."""

ClientEventId = Annotated[str, StringConstraints(max_length=MAX_EVENT_ID_LENGTH)] | None
"""Type of the optional, client-generated ``event_id`` of client events."""
