"""Sentence embeddings from the offline multilingual encoder, as a plain function for other packages.

Invariant: the function returns one L2-normalised row per text, in order, and ``revision`` names the
exact encoder weights, so anything trained on these rows can tell when the encoder changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sentiment.encoder_build import ensure_encoder, read_revision

if TYPE_CHECKING:
    from sentiment.torch_backend import TextEncoder

__all__ = ["Embedder", "load_embedder"]

log = logging.getLogger(__name__)


class Embedder:
    """Callable ``texts -> np.ndarray`` (rows L2-normalised) with the encoder's ``revision`` and ``dim``."""

    def __init__(self, encoder: TextEncoder, revision: str) -> None:
        self.encoder = encoder
        self.revision = revision

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("an embedder takes a list of texts, got one string; wrap it in a list")
        return self.encoder.embed(list(texts))


def load_embedder(cache_dir: Path, *, folder: Path | None = None, max_tokens: int = 128, batch_size: int = 64,
                  prefix: str = "query: ") -> Embedder:
    """The default encoder (built under ``cache_dir`` on first use), or the transformers encoder in ``folder``.

    Texts longer than ``max_tokens`` are embedded in windows and averaged; ``prefix`` is the e5 task prefix.
    Raises ScoringError when the encoder cannot be built or loaded.
    """
    from sentiment.classifier import _folder_revision
    from sentiment.torch_backend import TextEncoder

    if folder is None:
        folder = ensure_encoder(Path(cache_dir))
        revision = read_revision(folder)
    else:
        revision = _folder_revision(Path(folder))
    encoder = TextEncoder(Path(folder), max_tokens=max_tokens, batch_size=batch_size, prefix=prefix)
    log.info("loaded embedder %s revision %s", folder, revision)
    return Embedder(encoder, revision)
