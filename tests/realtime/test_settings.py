"""Settings: defaults, environment, CLI precedence, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from realtime.cli.main import build_parser
from realtime.cli.options import settings_from
from realtime.server.settings import Settings


def test_defaults():
    s = Settings()
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8000, Path("data"))
    assert s.database_path == Path("data/voxgate.db")
    assert (s.asr_model, s.asr_final_model, s.tts_model) == ("tiny.en", "base", "piper-joe")
    assert s.max_upload_bytes == 1_000_000_000


def test_environment_then_flags(monkeypatch):
    monkeypatch.setenv("VOXGATE_PORT", "9001")
    monkeypatch.setenv("VOXGATE_TTS_ENGINE", "hibari")
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0"])
    s = settings_from(args)
    assert (s.host, s.port, s.tts_engine, s.tts_model) == (
        "0.0.0.0",
        9001,
        "hibari",
        "hibari-heart",
    )
    args = build_parser().parse_args(["serve", "--port", "9002"])
    assert settings_from(args).port == 9002


def test_invalid_values_are_rejected(monkeypatch):
    monkeypatch.setenv("VOXGATE_PORT", "seventy")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("VOXGATE_PORT")
    with pytest.raises(ValidationError):
        Settings(asr_device="tpu")
    with pytest.raises(ValidationError):
        Settings(not_a_setting=1)


ENVIRONMENT_ONLY = {"llm_api_key"}
"""Secrets: a flag would show them in the process list and shell history."""


def test_every_setting_has_a_serve_flag_and_a_readme_row():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    serve_help = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    for name in Settings.model_fields:
        flag = f"--{name.replace('_', '-')}"
        if name in ENVIRONMENT_ONLY:
            assert flag not in serve_help, flag
            assert f"| `VOXGATE_{name.upper()}` | — |" in readme, name
            continue
        assert flag in serve_help, flag
        assert f"| `VOXGATE_{name.upper()}` | `{flag}` |" in readme, name


def test_engine_settings_default_to_the_first_table_entry(monkeypatch):
    s = Settings()
    assert (s.asr_engine, s.tts_engine) == ("faster-whisper", "piper")
    monkeypatch.setenv("VOXGATE_ASR_ENGINE", "faster-whisper")
    assert Settings().asr_engine == "faster-whisper"


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("asr_engine", "vosk", "unknown ASR engine 'vosk': use one of faster-whisper"),
        ("tts_engine", "espeak", "unknown TTS engine 'espeak': use one of piper, hibari"),
    ],
)
def test_an_unknown_engine_is_a_one_line_error_listing_the_choices(
    monkeypatch, capsys, setting, value, message
):
    from realtime.cli.main import EXIT_USAGE, main

    with pytest.raises(ValidationError, match=message):
        Settings(**{setting: value})
    monkeypatch.setenv(f"VOXGATE_{setting.upper()}", value)
    assert main(["models", "--check"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert err.startswith(f"voxgate: error: invalid setting {setting}: ")
