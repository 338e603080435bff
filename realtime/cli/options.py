"""Option groups that several commands share, and the settings they produce.

Settings flags are generated from the fields of :class:`~realtime.server.settings.Settings`:
one ``--flag`` per field, typed and documented from the field, defaulting to None ("not
given") so that ``VOXGATE_*`` environment variables and defaults still apply.
"""

from __future__ import annotations

import argparse
import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVER_SETTINGS = (
    "host",
    "port",
    "log_level",
    "log_format",
    "workers",
    "max_upload_bytes",
    "tls_cert",
    "tls_key",
    "responder",
    "llm_base_url",
    "llm_model",
    "llm_connect_timeout_s",
    "llm_first_token_timeout_s",
    "llm_early_replies",
    "llm_reply_transcript",
    "llm_max_output_tokens",
    "llm_threads",
    "llm_context_tokens",
    "llm_parallel",
    "max_sessions",
    "max_sessions_per_key",
    "max_session_seconds",
    "client_secret_ttl_s",
    "inference_workers",
    "demo",
    "rate_limit_per_minute",
    "cors_origins",
    "webrtc_ice_addresses",
    "webrtc_port_min",
    "webrtc_port_max",
    "webrtc_public_address",
    "webrtc_ice_servers",
)
DATA_SETTINGS = ("data_dir",)
BATCH_SETTINGS = (
    "database_url",
    "batch_workers",
    "batch_lease_s",
    "batch_max_attempts",
    "max_audio_seconds",
    "signed_url_ttl_s",
    "public_url",
)
MODEL_SETTINGS = (
    "model_cache_dir",
    "asr_engine",
    "asr_model",
    "asr_final_model",
    "asr_device",
    "asr_compute_type",
    "asr_threads",
    "asr_beam_size",
    "vad_model",
    "tts_engine",
    "tts_voice",
    "tagger_model",
    "embedder_model",
)


def setting_flags(title: str, names: Sequence[str]) -> argparse.ArgumentParser:
    """A parent parser with one ``--flag`` per settings field, typed from the field.

    Args:
        title: The heading of the flags' group in ``--help``.
        names: Settings field names; ``asr_model`` becomes ``--asr-model``.

    Returns:
        A parser without ``-h``, for ``parents=[…]``. Flags default to None.
    """
    from realtime.server.settings import Settings

    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(title)
    for name in names:
        field = Settings.model_fields[name]
        kind = field.annotation
        options: dict[str, Any] = {"help": f"{field.description} [VOXGATE_{name.upper()}]"}
        if typing.get_origin(kind) is typing.Literal:
            options["choices"] = typing.get_args(kind)
        elif kind in (int, float, Path):
            options["type"] = kind
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, **options)
    return parent


def server_options() -> argparse.ArgumentParser:
    """Flags for the HTTP server and its limits."""
    return setting_flags("server", SERVER_SETTINGS)


def data_options() -> argparse.ArgumentParser:
    """``--data-dir``."""
    return setting_flags("data", DATA_SETTINGS)


def batch_options() -> argparse.ArgumentParser:
    """Flags for the batch job queue."""
    return setting_flags("batch jobs", BATCH_SETTINGS)


def model_options() -> argparse.ArgumentParser:
    """Flags that choose models and how they run."""
    return setting_flags(
        "models (a registry name from `voxgate models`, or a path)", MODEL_SETTINGS
    )


def client_options() -> argparse.ArgumentParser:
    """``--url`` and ``--api-key`` for commands that talk to a running gateway."""
    from realtime.cli.client import DEFAULT_URL

    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("gateway")
    group.add_argument(
        "--url",
        default=os.environ.get("VOXGATE_URL", DEFAULT_URL),
        help=f"the gateway's base URL [VOXGATE_URL] (default: {DEFAULT_URL})",
    )
    group.add_argument(
        "--api-key",
        default=os.environ.get("VOXGATE_API_KEY"),
        help="an API key from `voxgate keys create` [VOXGATE_API_KEY]",
    )
    return parent


def settings_from(args: argparse.Namespace) -> Any:
    """Settings from the environment, overridden by whichever flags the command has.

    Raises:
        pydantic.ValidationError: a value (from a flag or the environment) is invalid.
    """
    from realtime.server.settings import load

    names = (*SERVER_SETTINGS, *DATA_SETTINGS, *BATCH_SETTINGS, *MODEL_SETTINGS)
    return load(**{name: getattr(args, name, None) for name in names})
