"""Tiny but real transformers models for tests: a trained tokenizer plus random BERT weights.

Every builder writes an ordinary folder that the product loading code reads unchanged (AutoTokenizer,
AutoModel / AutoModelForSequenceClassification, head.json). Outputs are seeded and deterministic;
building one takes well under a second. Stable API for other test suites:

    build_tiny_classifier(tmp_path) -> Path   # set ModelConfig(name=str(path)) and load it
    build_tiny_head_model(tmp_path) -> Path   # encoder + head folder, same format as the default model
    build_tiny_encoder(tmp_path) -> Path      # a BertModel folder
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["TINY_CORPUS", "build_tiny_classifier", "build_tiny_encoder", "build_tiny_head_model",
           "build_tiny_tokenizer"]

TINY_CORPUS = (
    "The delivery was late and the support team never answered.",
    "I love the new app, checkout was fast and easy!",
    "Giao hàng quá chậm, tôi rất thất vọng với dịch vụ.",
    "Sản phẩm tốt, nhân viên hỗ trợ nhiệt tình.",
    "สินค้าดีมาก ส่งเร็ว ประทับใจมากครับ",
    "รอของนานมาก ติดต่อใครก็ไม่ได้",
    "El pedido llegó roto y nadie responde.",
    "O atendimento foi ótimo, recomendo!",
    "Pengiriman cepat, barang sesuai pesanan.",
    "الخدمة سيئة جدا ولن أشتري مرة أخرى",
    "Refund took three weeks 😡 never again",
    "Great onboarding experience 👍🎉",
)
_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]


def build_tiny_tokenizer(folder: Path, vocab_size: int = 300) -> Path:
    """Train a SentencePiece-style Unigram tokenizer on TINY_CORPUS and save it as a fast tokenizer folder."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=_SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(list(TINY_CORPUS) * 4, trainer=trainer)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   cls_token="<s>", sep_token="</s>", model_max_length=512)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    return folder


def _bert_config(vocab_size: int, **extra: object) -> object:
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, pad_token_id=0, **extra)


def _vocab_size(folder: Path) -> int:
    return len(json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])


def build_tiny_encoder(tmp_path: Path, name: str = "tiny-encoder", seed: int = 0) -> Path:
    """A tokenizer plus a random 2-layer, 32-wide BertModel, saved with save_pretrained."""
    import torch
    from transformers import BertModel

    folder = build_tiny_tokenizer(Path(tmp_path) / name)
    torch.manual_seed(seed)
    model = BertModel(_bert_config(_vocab_size(folder)), add_pooling_layer=False)
    model.save_pretrained(folder)
    return folder


def build_tiny_classifier(tmp_path: Path, name: str = "tiny-classifier", seed: int = 0,
                          id2label: Mapping[int, str] | None = None,
                          logit_bias: tuple[float, ...] | None = None) -> Path:
    """A tokenizer plus a random 3-label BertForSequenceClassification (labels negative/neutral/positive).

    Pass ``id2label`` to test other label spellings (e.g. {0: "LABEL_0", ...} or {0: "pos", ...}) and
    ``logit_bias`` (one value per output) to make one output win clearly on every text.
    """
    import torch
    from transformers import BertForSequenceClassification

    labels = dict(id2label) if id2label is not None else {0: "negative", 1: "neutral", 2: "positive"}
    folder = build_tiny_tokenizer(Path(tmp_path) / name)
    torch.manual_seed(seed)
    config = _bert_config(_vocab_size(folder), num_labels=len(labels), id2label=labels,
                          label2id={v: k for k, v in labels.items()})
    model = BertForSequenceClassification(config)
    if logit_bias is not None:
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor(logit_bias, dtype=torch.float32))
    model.save_pretrained(folder)
    return folder


def build_tiny_head_model(tmp_path: Path, name: str = "tiny-head-model", seed: int = 0) -> Path:
    """An encoder + head folder: ``encoder/`` (tiny BertModel) and a seeded random head.safetensors/head.json."""
    from sentiment.head import Head, save_head

    folder = Path(tmp_path) / name
    build_tiny_encoder(folder, name="encoder", seed=seed)
    rng = np.random.default_rng(seed)
    head = Head(weight=rng.normal(0.0, 3.0, size=(3, 32)).astype(np.float32),
                bias=rng.normal(0.0, 0.1, size=3).astype(np.float32), encoder="encoder", prefix="query: ")
    return save_head(folder, head)
