"""Settings: one typed object from CLI flags, ``VOXGATE_*`` environment variables and defaults.

Precedence: CLI flag > environment variable > default. Nothing is read at import time;
call :class:`Settings` (or :func:`load`) where settings are needed and pass the object on.
Every model setting takes a registry name (``voxgate models`` lists them) or a path to the
user's own model files.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engines.models import default_cache_dir
from engines.registry import (
    ASR_ENGINES,
    EMBEDDER_ENGINES,
    TAGGER_ENGINES,
    TTS_ENGINES,
    VAD_ENGINES,
)
from realtime.responders import check_responder_name

Device = Literal["auto", "cpu", "cuda"]


class Settings(BaseSettings):
    """voxgate's configuration. Each field is also ``VOXGATE_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="VOXGATE_", extra="forbid", validate_default=True, frozen=True
    )

    # --- server -----------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    data_dir: Path = Field(
        Path("data"), description="Database (SQLite) and stored audio; created if missing."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log verbosity."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines: text, or json (one object per line with ts, level, logger, "
        "message, session_id/job_id).",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes sharing the port (SO_REUSEPORT), each with its own "
        "engines; a parent restarts them and reloads them one by one on SIGHUP.",
    )
    max_upload_bytes: int = Field(
        1_000_000_000, gt=0, description="Largest accepted upload (HTTP 413 above it)."
    )
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) to serve HTTPS and WSS on the port; needs "
        "tls_key. `voxgate certs dev` writes a development pair. Unset: plain HTTP.",
    )
    tls_key: Path | None = Field(
        None, description="PEM private key of tls_cert (unencrypted); needs tls_cert."
    )

    responder: str = Field(
        "auto",
        description="Where realtime responses get their words: llm (a language model, with "
        "the client's function tools), say (the client's assistant text or response "
        "instructions), echo (the user's last transcript), or auto (llm when a language "
        "model is available, else say).",
    )
    max_sessions: int = Field(100, ge=1, description="Realtime sessions at once (1013 above).")
    max_sessions_per_key: int = Field(
        20, ge=1, description="Realtime sessions at once per API key (1013 above)."
    )
    max_session_seconds: int = Field(
        3600, ge=1, description="Longest realtime session; then closed with 1001."
    )
    client_secret_ttl_s: int = Field(
        60, ge=10, le=7200, description="Default lifetime of an ephemeral client secret."
    )
    inference_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads of the inference scheduler (sessions and batch jobs); "
        "also the decodes each Whisper model runs at once.",
    )
    rate_limit_per_minute: int = Field(
        600,
        ge=0,
        description="Requests per API key per minute (REST calls and realtime connections; "
        "bursts up to the same number); HTTP 429 with Retry-After above it; 0: no limit.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API cross-origin, comma-separated "
        "(https://app.example.com,http://localhost:3000) or a JSON list; * allows any; "
        "empty (default): no CORS headers, so browsers refuse cross-origin calls.",
    )
    demo: Literal["off", "local", "public"] = Field(
        "local",
        description="The browser demo at /demo: local (sessions only for clients on this "
        "machine), public (for anyone who can reach the server; rate-limited), or off.",
    )

    # --- WebRTC calls (/v1/realtime/calls) ----------------------------------------------
    webrtc_ice_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Local IP addresses a WebRTC call offers ICE host candidates on, "
        "comma-separated (127.0.0.1 for loopback only); empty: every interface's address "
        "but loopback.",
    )
    webrtc_port_min: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Lowest local UDP port of a call's host candidates (with "
        "webrtc_port_max; each call takes one port per address); unset: any port.",
    )
    webrtc_port_max: int | None = Field(
        None, ge=1, le=65535, description="Highest local UDP port of a call's host candidates."
    )
    webrtc_public_address: str | None = Field(
        None,
        description="The IP address clients reach this host at through a 1:1 NAT (a "
        "container's published ports): announced on each host candidate's port.",
    )
    webrtc_ice_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="STUN/TURN servers for a call's candidates, comma-separated URLs "
        "(stun:host:port, turn:user:password@host:port?transport=udp); empty: none.",
    )

    # --- conversation: the llm responder -------------------------------------------------
    llm_base_url: str | None = Field(
        None,
        description="An OpenAI-compatible Chat Completions endpoint (e.g. "
        "http://127.0.0.1:8080/v1 for llama.cpp, vLLM, Ollama, LocalAI); unset: the embedded "
        "model.",
    )
    llm_model: str | None = Field(
        None,
        description="With an endpoint: the model it serves (unset: the first one it lists). "
        "Embedded: a registry name or a GGUF file (default smollm2).",
    )
    llm_api_key: SecretStr | None = Field(
        None, description="Bearer key for the endpoint (environment only; never logged)."
    )
    llm_connect_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Longest wait to connect to the endpoint."
    )
    llm_first_token_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Longest wait from a request to the model's first token; then the "
        "response fails.",
    )
    llm_max_output_tokens: int = Field(
        256,
        ge=1,
        le=32_768,
        description="Most tokens one reply may have when the client sets no limit "
        '(max_output_tokens "inf", the default): a model that rambles stops there.',
    )
    llm_early_replies: bool = Field(
        True,
        description="Start the model on the speculative transcript during the end-of-turn "
        "pause and keep its answer for the turn's response (lower latency; when the user "
        "goes on, the early request is closed unanswered, which a paid endpoint may bill).",
    )
    llm_reply_transcript: Literal["quick", "final"] = Field(
        "quick",
        description="What an automatic reply answers when early replies are on. quick: "
        "the partial model's quick decode of the turn, made when the speaker pauses; the "
        "answer is spoken as soon as the turn ends (the turn's item still gets the final "
        "model's transcript, decoded once the answer speaks). final: the final model's transcript; more accurate hearing, "
        "about a second slower on a CPU.",
    )
    llm_threads: int = Field(
        1,
        ge=1,
        le=256,
        description="CPU threads of the embedded model (1 leaves a core of two for speech "
        "recognition and synthesis; llama.cpp's threads spin on a busy machine).",
    )
    llm_context_tokens: int = Field(
        2048,
        ge=512,
        le=32_768,
        description="Tokens one conversation may hold in the embedded model, prompt and reply "
        "(older turns are left out of longer requests); each parallel slot reserves this.",
    )
    llm_parallel: int = Field(
        4, ge=1, le=64, description="Completions the embedded model runs at once."
    )

    # --- batch transcription ------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="Job queue database: a postgresql:// URL shares one queue between hosts; "
        "unset: SQLite in the data directory.",
    )
    batch_workers: int = Field(
        1,
        ge=0,
        le=64,
        description="Batch jobs processed at once by this process (each takes one inference "
        "thread); 0: serve runs no workers (use `voxgate worker`).",
    )
    batch_lease_s: float = Field(
        60.0,
        ge=2.0,
        le=3600.0,
        description="Lease of a claimed job, renewed by heartbeats (every 2 s, or a third "
        "of the lease if shorter); retried elsewhere when its worker stops renewing.",
    )
    batch_max_attempts: int = Field(
        3, ge=1, le=100, description="Claims per job before a job whose worker died is failed."
    )
    max_audio_seconds: int = Field(
        14_400,
        gt=0,
        description="Longest recording transcribed (decoded length, seconds); decoding stops "
        "there and the job fails (or the request gets 413), so a small compressed file "
        "cannot expand into hours of samples.",
    )
    signed_url_ttl_s: int = Field(
        3600, ge=10, le=604800, description="Lifetime of the signed audio URLs in responses."
    )
    public_url: str | None = Field(
        None,
        description="Base URL for links in responses (https://voxgate.example.com); "
        "unset: taken from each request.",
    )

    # --- models -----------------------------------------------------------------------
    model_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where prepared models live (joined Whisper base, unpacked YAMNet).",
    )
    asr_engine: str = Field(
        ASR_ENGINES.default.name,
        description=f"Speech recognition engine: {', '.join(ASR_ENGINES.names)}.",
    )
    asr_model: str = Field(
        "tiny.en", description="Whisper model for live partial transcripts (name or directory)."
    )
    asr_final_model: str = Field(
        ASR_ENGINES.default.default_model,
        description="Whisper model for final and batch transcripts (name or directory).",
    )
    asr_device: Device = Field("auto", description="ASR device: cpu, cuda, or auto.")
    asr_compute_type: str = Field(
        "default", description="CTranslate2 compute type (default: int8 on CPU, float16 on CUDA)."
    )
    asr_threads: int = Field(
        0, ge=0, description="CPU threads per ASR call (0: CTranslate2 decides)."
    )
    asr_beam_size: int = Field(5, ge=1, le=16, description="Beam width for batch transcripts.")
    vad_model: str = Field(
        VAD_ENGINES.default.default_model, description="Silero VAD ONNX (name or file)."
    )
    tts_engine: str = Field(
        TTS_ENGINES.default.name,
        description=f"Speech engine: {', '.join(TTS_ENGINES.names)}.",
    )
    tts_voice: str | None = Field(
        None,
        description="Voice model (name or file); default: piper-joe for piper, "
        "hibari-heart for hibari.",
    )
    tagger_model: str = Field(
        TAGGER_ENGINES.default.default_model,
        description="Non-speech tagger (name or directory).",
    )
    embedder_model: str = Field(
        EMBEDDER_ENGINES.default.default_model,
        description="Speaker embedder (name or ONNX file).",
    )

    @field_validator("asr_engine")
    @classmethod
    def _known_asr_engine(cls, value: str) -> str:
        return ASR_ENGINES.entry(value).name

    @field_validator("tts_engine")
    @classmethod
    def _known_tts_engine(cls, value: str) -> str:
        return TTS_ENGINES.entry(value).name

    @field_validator("responder")
    @classmethod
    def _known_responder(cls, value: str) -> str:
        return check_responder_name(value)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """Accept a comma-separated string or a JSON list (environment, CLI flag)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        """Each origin is ``*`` or ``scheme://host[:port]`` (no path); kept lower-case."""
        origins = []
        for origin in value:
            cleaned = origin.strip().rstrip("/").lower()
            scheme, sep, rest = cleaned.partition("://")
            if cleaned != "*" and (
                scheme not in ("http", "https") or not sep or not rest or "/" in rest
            ):
                raise ValueError(
                    f"{origin!r} is not an origin: use scheme://host[:port] (no path) or *"
                )
            origins.append(cleaned)
        return origins

    @field_validator("webrtc_ice_addresses", "webrtc_ice_servers", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Accept a comma-separated string (environment, CLI flag)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webrtc_ice_addresses")
    @classmethod
    def _ip_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            _check_ip(address)
        return value

    @field_validator("webrtc_public_address")
    @classmethod
    def _public_ip(cls, value: str | None) -> str | None:
        return _check_ip(value) if value else None

    @field_validator("webrtc_ice_servers")
    @classmethod
    def _ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            scheme, sep, rest = url.partition(":")
            if scheme not in ("stun", "stuns", "turn", "turns") or not sep or not rest:
                raise ValueError(f"{url!r} is not a STUN or TURN URL (stun:host:port, turn:…)")
        return value

    @field_validator("webrtc_port_max")
    @classmethod
    def _port_range(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Both ends of the UDP port range or neither, lowest first."""
        if "webrtc_port_min" not in info.data:  # the minimum was invalid: that error says it
            return value
        low = info.data["webrtc_port_min"]
        if (low is None) != (value is None):
            raise ValueError("set both webrtc_port_min and webrtc_port_max, or neither")
        if low is not None and value is not None and low > value:
            raise ValueError(f"webrtc_port_min ({low}) is above webrtc_port_max ({value})")
        return value

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _readable_pem(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise ValueError(
                f"cannot read {path}: {exc.strerror or exc} (a PEM file; "
                "`voxgate certs dev` writes a development pair)"
            ) from None
        return path

    @field_validator("tls_key")
    @classmethod
    def _tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Both TLS files or neither (the default of ``tls_key`` is validated too)."""
        if "tls_cert" not in info.data:  # the certificate was invalid: that error says it
            return value
        have, lack = ("tls_cert", "tls_key") if value is None else ("tls_key", "tls_cert")
        if (info.data["tls_cert"] is None) != (value is None):
            raise ValueError(
                f"{have} is set but {lack} is not: set {lack} too "
                f"(--{lack.replace('_', '-')} or VOXGATE_{lack.upper()}), or neither"
            )
        return value

    @field_validator("data_dir", "model_cache_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS/WSS (a certificate and a key are set)."""
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``: the scheme of the server's own URL."""
        return "https" if self.tls else "http"

    @property
    def database_path(self) -> Path:
        """The SQLite database inside the data directory."""
        return self.data_dir / "voxgate.db"

    @property
    def tts_model(self) -> str:
        """The voice model setting, with the engine's default filled in."""
        if self.tts_voice:
            return self.tts_voice
        return TTS_ENGINES.entry(self.tts_engine).default_model


def _check_ip(value: str) -> str:
    """``value`` if it is an IPv4 or IPv6 address (ValueError otherwise)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def load(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` (CLI flags) win over the environment. None means unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
