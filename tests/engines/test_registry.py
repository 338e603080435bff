"""The engine tables: every engine is registered the same way, and loading goes through them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from engines import registry
from engines.models import REGISTRY, Kind
from engines.registry import (
    ASR_ENGINES,
    EMBEDDER_ENGINES,
    TAGGER_ENGINES,
    TTS_ENGINES,
    VAD_ENGINES,
    EngineOptions,
    ModelFiles,
    UnknownEngine,
)

TABLES = (ASR_ENGINES, VAD_ENGINES, TTS_ENGINES, TAGGER_ENGINES, EMBEDDER_ENGINES)

SHIPPED = [
    (ASR_ENGINES, "faster-whisper", Kind.WHISPER, "engines.asr.incremental", "StreamingWhisper"),
    (VAD_ENGINES, "silero", Kind.VAD, "engines.vad.silero", "SileroVAD"),
    (TTS_ENGINES, "piper", Kind.PIPER, "engines.tts.piper", "PiperTTS"),
    (TTS_ENGINES, "hibari", Kind.HIBARI, "engines.tts.hibari", "HibariTTS"),
    (TAGGER_ENGINES, "yamnet", Kind.YAMNET, "engines.tagging.yamnet", "YamnetTagger"),
    (EMBEDDER_ENGINES, "dvector", Kind.DVECTOR, "engines.diarization.dvector", "DVectorEmbedder"),
]


@pytest.mark.parametrize(("table", "name", "kind", "module", "cls"), SHIPPED)
def test_every_shipped_engine_is_one_table_entry_with_a_registry_model(
    table: Any, name: str, kind: Kind, module: str, cls: str
) -> None:
    entry = table.entry(name)
    assert entry.name == name and entry.display_name
    assert entry.model_kind is kind
    assert REGISTRY[entry.default_model].kind is kind  # its model is in the model registry
    assert entry.factory.__module__ == "engines.registry"


@pytest.mark.parametrize(("table", "name", "kind", "module", "cls"), SHIPPED[1:])
def test_a_factory_builds_its_engine_from_the_resolved_path(
    monkeypatch: pytest.MonkeyPatch, table: Any, name: str, kind: Kind, module: str, cls: str
) -> None:
    import importlib

    built: list[Path] = []

    def fake(path: Path, **kwargs: Any) -> str:
        built.append(path)
        return f"{cls} loaded"

    monkeypatch.setattr(importlib.import_module(module), cls, fake)
    model = ModelFiles(name="m", path=Path("/models/m"))
    assert table.entry(name).factory(model, EngineOptions()) == f"{cls} loaded"
    assert built == [Path("/models/m")]


def test_the_whisper_factory_loads_finals_and_partials_with_the_asr_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import engines.asr.faster_whisper as fw
    import engines.asr.incremental as inc

    loaded: list[tuple[Path, dict[str, Any]]] = []

    def fake_model(path: Path, **kwargs: Any) -> str:
        loaded.append((path, kwargs))
        return str(path)

    monkeypatch.setattr(fw, "FasterWhisperASR", fake_model)
    monkeypatch.setattr(inc, "StreamingWhisper", lambda partial, final: (partial, final))
    options = EngineOptions(
        device="cpu",
        compute_type="int8",
        cpu_threads=3,
        workers=2,
        partial_model=ModelFiles("tiny.en", Path("/m/tiny")),
    )
    engine = ASR_ENGINES.entry("faster-whisper").factory(
        ModelFiles("base", Path("/m/base")), options
    )
    assert engine == ("/m/tiny", "/m/base")
    assert [(p, kw["name"]) for p, kw in loaded] == [
        (Path("/m/base"), "base"),
        (Path("/m/tiny"), "tiny.en"),
    ]
    assert loaded[0][1] == {
        "name": "base",
        "device": "cpu",
        "compute_type": "int8",
        "cpu_threads": 3,
        "num_workers": 2,
    }
    one = ASR_ENGINES.default.factory(ModelFiles("base", Path("/m/base")), EngineOptions())
    assert one == ("/m/base", "/m/base")  # no partial model: the final one does both


def test_an_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(
        UnknownEngine, match=r"^unknown ASR engine 'vosk': use one of faster-whisper$"
    ):
        ASR_ENGINES.entry("vosk")
    with pytest.raises(
        UnknownEngine, match=r"^unknown TTS engine 'espeak': use one of piper, hibari$"
    ):
        TTS_ENGINES.entry("espeak")
    assert issubclass(UnknownEngine, ValueError)  # settings validators report it


def test_tables_list_their_default_first() -> None:
    assert ASR_ENGINES.default.name == "faster-whisper"
    assert TTS_ENGINES.names == ("piper", "hibari")
    for table in TABLES:
        assert [e.name for e in table] == list(table.names)
        assert table.default is table.entry(table.names[0])


def test_importing_the_tables_loads_no_engine_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys, engines.registry; "
        "print(sorted(m for m in sys.modules if m.startswith(('engines.asr', 'engines.tts', "
        "'engines.vad', 'engines.tagging', 'engines.diarization', 'numpy', 'onnxruntime'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- loading (realtime/inference/loading.py) goes through the tables ---------------------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Kind, ModelFiles, Any]]:
    """Every table entry's factory replaced by a recorder; model resolution faked."""
    import realtime.inference.loading as loading

    calls: list[tuple[str, str, Kind, ModelFiles, Any]] = []

    def fake_resolve(value: str, kind: Kind, cache_dir: Path, progress: Any = None) -> Path:
        return Path("/resolved") / kind.value / value

    monkeypatch.setattr(loading, "resolve", fake_resolve)
    for table in TABLES:
        for entry in table:

            def factory(
                model: ModelFiles, options: EngineOptions, entry: Any = entry, table: Any = table
            ) -> str:
                calls.append((table.kind, entry.name, entry.model_kind, model, options))
                return f"{table.kind}:{entry.name}"

            new = dataclasses.replace(entry, factory=factory)
            monkeypatch.setitem(table.entries, entry.name, new)
    return calls


def test_load_engines_builds_every_engine_through_its_table(recorded: list[Any]) -> None:
    from realtime.inference.loading import load_engines
    from realtime.server.settings import Settings

    engines = load_engines(Settings(tts_engine="hibari", asr_threads=2, inference_workers=3))
    assert (engines.asr, engines.vad, engines.tts, engines.tagger, engines.embedder) == (
        "ASR:faster-whisper",
        "VAD:silero",
        "TTS:hibari",
        "tagger:yamnet",
        "embedder:dvector",
    )
    by_kind = {kind: (name, model, options) for kind, name, _, model, options in recorded}
    _, model, options = by_kind["ASR"]
    assert model == ModelFiles("base", Path("/resolved/whisper/base"))
    assert options.partial_model == ModelFiles("tiny.en", Path("/resolved/whisper/tiny.en"))
    assert (options.cpu_threads, options.workers) == (2, 3)
    assert by_kind["TTS"][1] == ModelFiles("hibari-heart", Path("/resolved/hibari/hibari-heart"))
    assert by_kind["tagger"][1].path == Path("/resolved/yamnet/yamnet")
    assert by_kind["embedder"][1].path == Path("/resolved/dvector/dvector")
    assert by_kind["VAD"][1].path == Path("/resolved/vad/silero-vad-v6")
    assert len(recorded) == 5


def test_batch_loading_skips_the_partial_model(recorded: list[Any]) -> None:
    from realtime.inference.loading import load_asr
    from realtime.server.settings import Settings

    assert load_asr(Settings(), partials=False) == "ASR:faster-whisper"
    (_, _, _, model, options) = recorded[0]
    assert model.name == "base" and options.partial_model is None
    load_asr(Settings(asr_model="base"))
    assert recorded[1][4].partial_model is None  # the same model: loaded once


def test_a_path_setting_is_named_after_its_last_component(recorded: list[Any]) -> None:
    from realtime.inference.loading import load_tts
    from realtime.server.settings import Settings

    load_tts(Settings(tts_voice="voices/en_GB-alan.onnx"))
    assert recorded[0][3] == ModelFiles(
        "en_GB-alan.onnx", Path("/resolved/piper/voices/en_GB-alan.onnx")
    )


def test_check_models_resolves_each_setting_for_its_engines_model_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import realtime.inference.loading as loading
    from realtime.server.settings import Settings

    seen: list[tuple[str, Kind]] = []
    monkeypatch.setattr(
        loading, "resolve", lambda value, kind, cache, progress=None: seen.append((value, kind))
    )
    loading.check_models(Settings(tts_engine="hibari"))
    assert seen == [
        ("tiny.en", Kind.WHISPER),
        ("base", Kind.WHISPER),
        ("silero-vad-v6", Kind.VAD),
        ("hibari-heart", Kind.HIBARI),
        ("yamnet", Kind.YAMNET),
        ("dvector", Kind.DVECTOR),
        ("smollm2", Kind.LLM),  # responder auto with no endpoint: the embedded model
    ]
    seen.clear()
    loading.check_models(Settings(llm_base_url="http://127.0.0.1:8080/v1"))
    assert ("smollm2", Kind.LLM) not in seen  # an endpoint answers: no embedded model


def test_registry_module_lists_the_tables() -> None:
    tables = [v for v in vars(registry).values() if isinstance(v, registry.EngineTable)]
    assert sorted(t.kind for t in tables) == sorted(t.kind for t in TABLES)
