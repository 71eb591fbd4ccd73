"""`journeypulse model eval / prepare / train` through the real CLI on tiny real models."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.tiny_models import TINY_CORPUS, build_tiny_classifier, build_tiny_encoder
from pipeline.cli import app
from sentiment.corrections import is_held_out

runner = CliRunner()


@pytest.fixture(scope="module")
def always_positive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("pos"), logit_bias=(-8.0, -8.0, 8.0))


@pytest.fixture(scope="module")
def always_negative(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("neg"), logit_bias=(8.0, -8.0, -8.0))


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path) -> Path:
    return write_config(f"sqlite:///{tmp_path / 'jp.db'}", cache_dir=str(tmp_path / "cache"))


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_writes_per_language_and_per_source_metrics_as_json(config: Path, always_positive: Path,
                                                                  tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "mixed.jsonl", [
        {"text": "Giao hàng nhanh", "label": "positive", "lang": "vi"},
        {"text": "Giao hàng chậm", "label": "negative", "lang": "vi"},
        {"text": "ส่งเร็วมาก", "label": "positive", "lang": "th"},
        {"text": "ok", "label": "neutral", "lang": "en"},
    ])
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive),
                                 "--data", str(data), "--lang-col", "lang", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["overall"]["accuracy"] == pytest.approx(0.5)
    assert report["overall"]["confusion"]["counts"] == [[0, 0, 1], [0, 0, 1], [0, 0, 2]]
    assert {k: v["accuracy"] for k, v in report["by_language"].items()} == {"en": 0.0, "th": 1.0, "vi": 0.5}
    assert list(report["by_source"]) == [f"{tmp_path.name}/mixed.jsonl"]
    assert 0.0 <= report["overall"]["ece"] <= 1.0
    assert "macro-F1" in result.output


def test_eval_reads_umsab_txt_and_wisesight_csv_with_their_label_maps(config: Path, always_positive: Path,
                                                                      tmp_path: Path) -> None:
    (tmp_path / "val_text.txt").write_text("great\nawful\n", encoding="utf-8")
    (tmp_path / "val_labels.txt").write_text("2\n0\n", encoding="utf-8")
    wisesight = tmp_path / "wisesight.csv"
    wisesight.write_text("texts,category\nดีมาก,pos\nส่งกี่วัน,q\n", encoding="utf-8")
    umsab = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive), "--data",
                                str(tmp_path / "val_text.txt"), "--format", "txt", "--lang", "en",
                                "--label-map", "0=negative,1=neutral,2=positive", "--json", "-"])
    assert umsab.exit_code == 0, umsab.output
    assert json.loads(umsab.stdout)["by_language"]["en"]["confusion"]["counts"] == [[0, 0, 1], [0, 0, 0], [0, 0, 1]]
    thai = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive), "--data",
                               str(wisesight), "--format", "csv", "--text-col", "texts", "--label-col", "category",
                               "--lang", "th", "--label-map", "pos=positive,neu=neutral,neg=negative,q=neutral",
                               "--json", "-"])
    assert thai.exit_code == 0, thai.output
    assert json.loads(thai.stdout)["by_language"]["th"]["confusion"]["counts"] == [[0, 0, 0], [0, 0, 1], [0, 0, 1]]


def test_eval_of_a_label_outside_the_map_fails_naming_the_line(config: Path, always_positive: Path,
                                                               tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "bad.jsonl", [{"text": "a", "label": "positive"}, {"text": "b", "label": "q"}])
    result = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive),
                                 "--data", str(data)])
    assert result.exit_code == 1
    assert "bad.jsonl line 2: label 'q'" in " ".join(result.output.split())


def test_corrections_holdout_shows_before_and_after_on_the_held_out_part(config: Path, always_positive: Path,
                                                                         always_negative: Path,
                                                                         tmp_path: Path) -> None:
    export = tmp_path / "corrections.csv"
    ids = [f"mention-{i}" for i in range(60)]
    export.write_text("mention_id,text,language,label\n" + "".join(f"{m},text {m},vi,positive\n" for m in ids),
                      encoding="utf-8")
    result = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive), "--before",
                                 str(always_negative), "--corrections-holdout", "--corrections-file", str(export),
                                 "--json", "-"])
    assert result.exit_code == 0, result.output
    holdout = json.loads(result.stdout)["corrections_holdout"]
    assert holdout["n"] == sum(is_held_out(m) for m in ids) > 0
    assert holdout["before"]["macro_f1"] == 0.0
    assert holdout["after"]["macro_f1"] == 1.0


def test_corrections_holdout_reads_the_database_corrections(write_config: Callable[..., Path], always_positive: Path,
                                                            tmp_path: Path) -> None:
    from storage import CorrectionRow, Store

    url = f"sqlite:///{tmp_path / 'jp.db'}"
    config = write_config(url, cache_dir=str(tmp_path / "cache"))
    assert runner.invoke(app, ["pull", "-c", str(config)]).exit_code == 0
    assert runner.invoke(app, ["detect-languages", "-c", str(config)]).exit_code == 0
    store = Store.open(url)
    try:
        _columns, rows = store.query_view("v_mention_sentiment", filters={}, limit=None)
        ids = sorted({str(r[_columns.index("mention_id")]) for r in rows})
        for mention_id in ids:
            store.add_sentiment_correction(CorrectionRow(mention_id, "positive", "manual", "analyst-1",
                                                         datetime(2026, 11, 1, tzinfo=UTC)))
    finally:
        store.close()
    result = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive),
                                 "--before", str(always_positive), "--corrections-holdout", "--json", "-"])
    assert result.exit_code == 0, result.output
    holdout = json.loads(result.stdout)["corrections_holdout"]
    assert holdout["n"] == sum(is_held_out(m) for m in ids)
    assert holdout["after"]["accuracy"] == 1.0


def test_eval_without_data_or_holdout_is_a_usage_error(config: Path) -> None:
    result = runner.invoke(app, ["model", "eval", "-c", str(config)])
    assert result.exit_code == 2
    assert "nothing to evaluate" in " ".join(result.output.split())


def test_prepare_exports_the_int8_onnx_model_once(config: Path, tiny_model: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "prepare", "-c", str(config), "--backend", "onnx-int8"])
    assert result.exit_code == 0, result.output
    assert "backend onnx-int8" in " ".join(result.output.split())
    exports = list((tmp_path / "cache" / "onnx").rglob("*.onnx"))
    assert len(exports) == 1
    stamp = exports[0].stat().st_mtime_ns
    assert runner.invoke(app, ["model", "prepare", "-c", str(config), "--backend", "onnx-int8"]).exit_code == 0
    assert exports[0].stat().st_mtime_ns == stamp


def test_train_rejects_a_malformed_file_spec(config: Path) -> None:
    result = runner.invoke(app, ["model", "train", "-c", str(config), "--out", "x", "--file", "only-a-path.jsonl"])
    assert result.exit_code == 2
    assert "PATH,FORMAT,LANGUAGE,SPLIT" in " ".join(result.output.split())


def test_train_includes_only_the_training_part_of_the_corrections_and_is_seeded(config: Path,
                                                                              tmp_path: Path) -> None:
    encoder = build_tiny_encoder(tmp_path / "models")
    labels = ["negative", "positive", "neutral"]
    rows = [{"text": t, "label": labels[i % 3]} for i, t in enumerate(TINY_CORPUS)]
    train = _jsonl(tmp_path / "train.jsonl", rows)
    val = _jsonl(tmp_path / "val.jsonl", rows)
    ids = [f"mention-{i}" for i in range(40)]
    export = tmp_path / "corrections.jsonl"
    _jsonl(export, [{"mention_id": m, "text": f"đơn {m} giao chậm", "language": "vi", "label": "negative"}
                    for m in ids])
    args = ["model", "train", "-c", str(config), "--encoder", str(encoder), "--file",
            f"{train},jsonl,mixed,train", "--file", f"{val},jsonl,mixed,val", "--corrections-file", str(export),
            "--epochs", "1", "--max-steps", "2", "--top-layers", "1", "--max-tokens", "32", "--seed", "3"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    written = (tmp_path / "cache" / "corrections" / "a" / "corrections-vietnamese.jsonl").read_text(encoding="utf-8")
    used = {m for m in ids if f"đơn {m} " in written}
    assert used == {m for m in ids if not is_held_out(m)}
    card = " ".join((tmp_path / "a" / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert "--top-layers 1 --epochs 1 --seed 3" in card and "--max-steps 2" in card  # a smoke run says so
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "b")]).exit_code == 0
    weights = sorted(p.name for p in (tmp_path / "a").iterdir() if p.suffix == ".safetensors")
    assert weights
    for name in weights:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(("extra", "message"), [
    (["--language-factor", "thai"], "LANGUAGE=FACTOR"),
    (["--language-factor", "thai=-1"], "LANGUAGE=FACTOR"),
    (["--max-train-rows", "5", "--all-train-rows"], "not both"),
])
def test_train_rejects_bad_sampling_options_with_a_usage_error(config: Path, tmp_path: Path,
                                                                   extra: list[str], message: str) -> None:
    rows = [{"text": t, "label": "positive"} for t in TINY_CORPUS]
    train = _jsonl(tmp_path / "train.jsonl", rows)
    args = ["model", "train", "-c", str(config), "--out", str(tmp_path / "out"), "--file", f"{train},jsonl,en,train"]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_compare_backend_without_datasets_is_a_usage_error(config: Path, always_positive: Path) -> None:
    result = runner.invoke(app, ["model", "eval", "-c", str(config), "--model", str(always_positive),
                                 "--compare-backend", "onnx-int8", "--corrections-holdout"])
    assert result.exit_code == 2
    assert "--compare-backend needs --datasets DIR" in result.output
