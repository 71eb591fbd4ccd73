"""Query output shown to people carries mention text only after redaction, using the row's language."""

from pathlib import Path

from journeypulse.config import BrandConfig, Settings, StorageConfig
from pipeline.analytics import redact_rows


def _settings(tmp_path: Path) -> Settings:
    return Settings(brands=[BrandConfig(name="Acme")], data_dir=tmp_path,
                    storage=StorageConfig(url=f"sqlite:///{tmp_path / 'x.db'}"))


def test_text_cells_are_redacted_with_the_row_language_and_other_cells_stay(tmp_path: Path) -> None:
    columns = ["mention_id", "language", "text"]
    rows = [("m1", "pt", "Moro na Rua Augusta, 1500, liguem (11) 91234-5678"), ("m2", None, None),
            ("m3", "en", "Acme support was great, thanks Acme")]
    assert redact_rows(_settings(tmp_path), columns, rows) == [
        ("m1", "pt", "Moro na [ADDRESS], liguem [PHONE]"), ("m2", None, None),
        ("m3", "en", "Acme support was great, thanks Acme"),
    ]


def test_views_without_a_text_column_come_back_unchanged(tmp_path: Path) -> None:
    rows = [("2026-11-02", "Acme", 3)]
    assert redact_rows(_settings(tmp_path), ["day", "brand", "mentions"], rows) == rows
