"""Settings: validation messages name the field, secrets only through environment variables."""

from pathlib import Path

import pytest

from journeypulse.config import DEFAULT_MODEL, SourceConfig, load_settings
from journeypulse.errors import ConfigError

MINIMAL = """
brands:
  - name: Sorami
    hashtags: [Sorami]
sources:
  - name: sample
    kind: file
    params: {path: sample.jsonl}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "journeypulse.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, MINIMAL))
    assert settings.model.name == DEFAULT_MODEL
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.config_dir == tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'data' / 'journeypulse.db').resolve()}"
    assert settings.brands[0].hashtags == ["#Sorami"]


def test_a_bad_field_is_named_in_the_error(tmp_path: Path) -> None:
    bad = MINIMAL.replace("kind: file", "kind: file\n    max_items_per_run: -5")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.max_items_per_run"):
        load_settings(_write(tmp_path, bad))


def test_unknown_keys_are_rejected_with_their_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.batchsize: Extra inputs"):
        load_settings(_write(tmp_path, MINIMAL + "model:\n  batchsize: 3\n"))


def test_duplicate_source_names_are_rejected(tmp_path: Path) -> None:
    twice = MINIMAL + "  - name: sample\n    kind: rss\n"
    with pytest.raises(ConfigError, match="repeated: sample"):
        load_settings(_write(tmp_path, twice))


def test_missing_and_invalid_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(_write(tmp_path, "brands: [\n"))
    with pytest.raises(ConfigError, match="brands"):
        load_settings(_write(tmp_path, "sources: []\n"))


def test_secrets_are_read_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    source = SourceConfig(name="x", kind="x", secrets={"bearer_token": "JP_TEST_X_TOKEN"})
    monkeypatch.delenv("JP_TEST_X_TOKEN", raising=False)
    assert source.secret("bearer_token") is None
    monkeypatch.setenv("JP_TEST_X_TOKEN", "s3cr3t")
    assert source.secret("bearer_token") == "s3cr3t"
    assert "s3cr3t" not in source.model_dump_json()


def test_a_folder_a_latin1_file_and_an_unreadable_file_are_one_line_errors_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: file: is a folder"):
        load_settings(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("brands:\n  - name: Café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: line 2: not UTF-8 \(byte 0xe9\)"):
        load_settings(latin)
    locked = _write(tmp_path, MINIMAL)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError, match=r"journeypulse\.yaml: file: cannot be read \(permission denied\)"):
        load_settings(locked)


def test_yaml_syntax_errors_point_at_the_real_file_and_line_on_one_line(tmp_path: Path) -> None:
    broken = _write(tmp_path, "brands:\n  - name: A\n  sources:\n    - x\n   bad: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(broken)
    message = str(caught.value)
    assert message.startswith(f"{broken}: line ") and "not valid YAML" in message
    assert "\n" not in message and "<unicode string>" not in message


def test_a_storage_url_that_is_not_a_url_names_the_field_but_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, MINIMAL + "storage:\n  url: bob:s3cret@db.example.com/jp\n"))
    assert "storage.url: " in str(caught.value) and "s3cret" not in str(caught.value)


def test_max_future_skew_reads_durations_and_refuses_negative_ones(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, MINIMAL)).pipeline.max_future_skew.total_seconds() == 86_400
    settings = load_settings(_write(tmp_path, MINIMAL + "pipeline:\n  max_future_skew: 12h\n"))
    assert settings.pipeline.max_future_skew.total_seconds() == 12 * 3600
    with pytest.raises(ConfigError, match="pipeline.max_future_skew: "):
        load_settings(_write(tmp_path, MINIMAL + "pipeline:\n  max_future_skew: -5\n"))
