"""Typed keys of the application state, shared by the app and its route modules."""

from __future__ import annotations

from aiohttp import web

from engines.base import Engines
from realtime.inference.scheduler import InferenceScheduler
from realtime.server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINES = web.AppKey("engines", Engines)
INFERENCE = web.AppKey("inference", InferenceScheduler)
"""The process's inference scheduler: every blocking engine call runs on its threads
(``settings.inference_workers``), by priority (see :mod:`realtime.inference.scheduler`)."""
