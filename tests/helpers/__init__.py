"""Test helpers shared across test packages (import as ``from helpers.tiny_models import ...``)."""

from helpers.tiny_models import build_tiny_classifier, build_tiny_encoder, build_tiny_head_model, build_tiny_tokenizer

__all__ = ["build_tiny_classifier", "build_tiny_encoder", "build_tiny_head_model", "build_tiny_tokenizer"]
