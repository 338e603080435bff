"""The app's chat backend: the language model every session's ``llm`` responder shares.

:func:`open_chat` picks it from the settings: the OpenAI-compatible endpoint
``llm_base_url`` names, else the embedded model the app loaded (``engines.llm``), else none
(``auto`` then means ``say``). :func:`chat_lifespan` owns it for the app's lifetime
(``app[CHAT]``) and checks at startup that the ``responder`` setting can be served.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from engines.base import Engines
from realtime.responders import create_responder, resolve_responder
from realtime.responders.chat_backends import ChatBackend, EndpointChat, LocalChat
from realtime.server.app_keys import ENGINES, SETTINGS
from realtime.server.settings import Settings

log = logging.getLogger(__name__)

CHAT: web.AppKey[ChatBackend | None] = web.AppKey("chat")
"""The app's chat backend (None: no language model)."""


def open_chat(settings: Settings, engines: Engines) -> ChatBackend | None:
    """The chat backend ``settings`` ask for, if any (see the module docstring)."""
    if settings.responder in ("say", "echo"):
        return None
    if settings.llm_base_url:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return EndpointChat(
            settings.llm_base_url,
            settings.llm_model,
            key,
            connect_timeout_s=settings.llm_connect_timeout_s,
            first_token_timeout_s=settings.llm_first_token_timeout_s,
            max_tokens=settings.llm_max_output_tokens,
        )
    if engines.llm is not None:
        return LocalChat(
            engines.llm,
            first_token_timeout_s=settings.llm_first_token_timeout_s,
            workers=settings.llm_parallel,
            max_tokens=settings.llm_max_output_tokens,
            context_tokens=settings.llm_context_tokens,
        )
    return None


async def chat_lifespan(app: web.Application) -> AsyncIterator[None]:
    """Open the app's chat backend after the engines loaded; close it at the end.

    Raises:
        ValueError: the ``responder`` setting is ``llm`` and there is no language model.
    """
    settings = app[SETTINGS]
    chat = open_chat(settings, app[ENGINES])
    app[CHAT] = chat
    try:
        create_responder(settings.responder, chat)  # fails now, not at the first session
        log.info("responder: %s", resolve_responder(settings.responder, chat))
        yield
    finally:
        if chat is not None:
            await chat.aclose()
