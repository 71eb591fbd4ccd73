"""Sentiment scoring: the offline multilingual encoder, the trained head, and any transformers classifier.

Importing this package imports neither torch nor transformers; they load with the first model.
"""

from sentiment.classifier import DEFAULT_HEAD_DIR, load_sentiment_model
from sentiment.embedder import Embedder, load_embedder
from sentiment.encoder_build import build_encoder, ensure_encoder
from sentiment.scores import LABELS, Label, Score, SentimentModel, label_order, make_score

__all__ = [
    "DEFAULT_HEAD_DIR",
    "Embedder",
    "LABELS",
    "Label",
    "Score",
    "SentimentModel",
    "build_encoder",
    "ensure_encoder",
    "label_order",
    "load_embedder",
    "load_sentiment_model",
    "make_score",
]
