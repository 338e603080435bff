"""Typed keys of the application state, shared by the app and its route modules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from engines.base import Engines
from realtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINES = web.AppKey("engines", Engines)
INFERENCE = web.AppKey("inference", ThreadPoolExecutor)
"""The bounded pool every blocking engine call runs on (``settings.inference_workers``)."""
