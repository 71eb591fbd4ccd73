"""The journey taxonomy file: the bundled one is complete, and bad files fail naming the entry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from journeypulse.errors import ConfigError
from journeys.taxonomy import BUNDLED_TAXONOMY, build_taxonomy, compile_pattern, fold, load_taxonomy, strip_marks

STAGES = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit")
SAMPLE_LANGUAGES = ("en", "vi", "th", "es", "pt", "id")
PAIN_POINTS = {"late_delivery", "damaged_item", "payment_failed", "app_crash", "long_wait", "rude_agent",
               "hidden_fees", "refund_delay", "login_problem", "out_of_stock", "price"}
EXIT_SIGNALS = {"refund_request", "cancellation", "unsubscribe", "abandoned_cart", "refused_upgrade",
                "switch_to_competitor"}


def _minimal() -> dict[str, Any]:
    return {
        "version": "test-1",
        "languages": ["en", "vi", "th"],
        "stages": {"delivery": {"label": "Delivery", "description": "getting it", "patterns": {"en": ["courier"]}}},
        "pain_points": {"late_delivery": {"label": "Late", "stages": ["delivery"], "patterns": {"en": ["late"]}}},
    }


def test_bundled_taxonomy_has_the_eight_stages_in_journey_order_and_a_version() -> None:
    taxonomy = load_taxonomy()

    assert taxonomy.stage_names == STAGES
    assert taxonomy.version
    assert set(taxonomy.languages) >= {*SAMPLE_LANGUAGES, "ar"}


def test_every_bundled_stage_has_patterns_in_every_sample_language() -> None:
    for stage in load_taxonomy().stages:
        assert {p.language for p in stage.patterns} >= set(SAMPLE_LANGUAGES), stage.name


def test_bundled_pain_points_and_exit_signals_cover_the_required_ones_in_every_sample_language() -> None:
    taxonomy = load_taxonomy()

    assert {p.name for p in taxonomy.pain_points} >= PAIN_POINTS
    assert {e.name for e in taxonomy.exit_signals} >= EXIT_SIGNALS
    for entry in (*taxonomy.pain_points, *taxonomy.exit_signals):
        assert {p.language for p in entry.patterns} >= set(SAMPLE_LANGUAGES), entry.name
        assert set(entry.stages) <= set(STAGES), entry.name


def test_bundled_touchpoints_map_every_sample_channel() -> None:
    taxonomy = load_taxonomy()
    channels = ("x", "reddit", "app_store", "google_play", "youtube", "news", "contact_center", "mastodon")

    assert {c: taxonomy.touchpoint(c) for c in channels} == {
        "x": "social", "reddit": "community", "app_store": "app_review", "google_play": "app_review",
        "youtube": "video", "news": "news", "contact_center": "contact_center", "mastodon": "social",
    }
    assert taxonomy.touchpoint("carrier_pigeon") is None
    assert taxonomy.touchpoint(None) is None


def test_plain_patterns_match_whole_words_and_a_trailing_star_any_ending() -> None:
    late = compile_pattern("late", "en", "t")
    cancel = compile_pattern("cancel*", "en", "t")

    assert late.search(fold("it came late again"), "it came late again")
    assert not late.search(fold("chocolate cake"), "chocolate cake")
    assert cancel.search("i cancelled it", "i cancelled it")
    assert not cancel.search("precancel", "precancel")


def test_thai_patterns_match_inside_text_without_spaces() -> None:
    pattern = compile_pattern("ส่งช้า", "th", "t")
    text = fold("สั่งของจากSoramiส่งช้ามากรอ5วัน")

    assert pattern.search(text, strip_marks(text))


def test_vietnamese_patterns_match_with_and_without_diacritics() -> None:
    pattern = compile_pattern("giao hàng trễ", "vi", "t")

    for text in ("Sorami GIAO HÀNG TRỄ quá", "sorami giao hang tre qua", "giao hàng tre qua"):
        folded = fold(text)
        assert pattern.search(folded, strip_marks(folded)), text


def test_folding_ignores_zero_width_characters_and_typographic_apostrophes() -> None:
    pattern = compile_pattern("won't upgrade", "en", "t")
    text = fold("I WON\u2019T up\u200bgrade")

    assert pattern.search(text, strip_marks(text))


def test_strip_marks_keeps_thai_vowel_and_tone_marks_and_maps_d_with_stroke() -> None:
    assert strip_marks("ยังไม่ได้รับ") == "ยังไม่ได้รับ"
    assert strip_marks("đơn hàng") == "don hang"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda t: t["pain_points"]["late_delivery"].update(stages=["shipping"]),
         "pain_points.late_delivery: unknown stage(s) ['shipping']"),
        (lambda t: t["pain_points"]["late_delivery"]["patterns"].update(en=["re:(late"]),
         "pain_points.late_delivery.patterns.en: pattern 're:(late' is not a valid regular expression"),
        (lambda t: t["pain_points"]["late_delivery"]["patterns"].update(fr=["en retard"]),
         "pain_points.late_delivery.patterns: language 'fr' is not in the taxonomy's languages"),
        (lambda t: t["stages"]["delivery"]["patterns"].update(vi=["trễ"]),
         "stages.delivery.patterns.vi: Vietnamese pattern 'trễ' is a single syllable"),
        (lambda t: t["stages"]["delivery"]["patterns"].update(en=["   "]),
         "stages.delivery.patterns.en: pattern '   ' is empty"),
        (lambda t: t["stages"]["delivery"]["patterns"].update(en=["re:x*"]),
         "matches the empty string"),
        (lambda t: t.pop("version"), "version: Field required"),
        (lambda t: t["stages"]["delivery"].update(colour="red"), "stages.delivery.colour: Extra inputs"),
        (lambda t: t.update(touchpoints={"social": ["x"], "community": ["x"]}),
         "channel 'x' is listed under both 'social' and 'community'"),
    ],
)
def test_a_bad_taxonomy_fails_with_an_error_naming_the_entry(mutate: Callable[[dict[str, Any]], object],
                                                             fragment: str) -> None:
    raw = _minimal()
    mutate(raw)

    with pytest.raises(ConfigError) as info:
        build_taxonomy(raw, origin="taxonomy bad.yaml")

    assert "taxonomy bad.yaml" in str(info.value)
    assert fragment in str(info.value)


def test_a_taxonomy_file_with_a_repeated_key_is_rejected_not_silently_merged(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(_minimal(), allow_unicode=True) + "version: test-2\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="key 'version' appears twice"):
        load_taxonomy(path)


def test_missing_and_unparsable_taxonomy_files_fail_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_taxonomy(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"taxonomy file {broken} is not valid YAML"):
        load_taxonomy(broken)


def test_a_small_valid_taxonomy_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(_minimal(), allow_unicode=True), encoding="utf-8")

    taxonomy = load_taxonomy(path)

    assert taxonomy.version == "test-1"
    assert taxonomy.stage_names == ("delivery",)
    assert [p.name for p in taxonomy.pain_points] == ["late_delivery"]
    assert load_taxonomy().version == load_taxonomy(BUNDLED_TAXONOMY).version
