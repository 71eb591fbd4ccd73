"""The CX journey map: distinct-mention counts, k-anonymity with stated suppression, quote choice, filters, output."""

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from journeys.cxmap import FONT_STACK, STAGE_LABELS, MapLink, MapMention, build_cx_map, render_cx_map

STAGES = list(STAGE_LABELS.items())
MONDAY = date(2026, 11, 2)
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def mention(n: int, *links: MapLink, author: str | None = None, language: str = "en", channel: str = "x",
            day: date = MONDAY, sentiment: str = "negative", text: str | None = None, brand: str = "Sorami") -> MapMention:
    return MapMention(f"m{n:03d}", brand, language, channel, author or f"a{n}", day, sentiment, 0.8,
                      text or f"text of mention {n}", links)


def link(stage: str, pain: str | None = None, exit_signal: str | None = None, confidence: float = 0.8) -> MapLink:
    return MapLink(stage, pain, exit_signal, confidence)


def sample_mentions() -> list[MapMention]:
    """Late delivery: 6 authors (shown); wrong item: 3 authors (hidden); cancellations by 5 authors; Thai voices."""
    out = [mention(i, link("delivery", "late_delivery", confidence=0.9), link("support", confidence=0.5),
                   day=MONDAY + timedelta(days=i), text=f"Order late again, day {i}, call me 0912 345 678")
           for i in range(6)]
    out += [mention(10 + i, link("delivery", "wrong_item"), sentiment="neutral") for i in range(3)]
    out += [mention(20 + i, link("exit", exit_signal="cancellation", confidence=0.9), language="th", channel="app_store",
                    text="จะยกเลิกแล้ว ส่งช้ามาก") for i in range(5)]
    # a deletion request also linked to loyalty with more confidence: never a loyalty voice
    out += [mention(30 + i, link("loyalty", confidence=0.95), link("exit", exit_signal="uninstall", confidence=0.7),
                    sentiment="positive", text=f"Loved it for years but delete my account now {i}") for i in range(5)]
    out.append(mention(40, sentiment="positive", day=MONDAY + timedelta(days=9)))  # not linked to any stage
    out.append(mention(41, link("delivery", "late_delivery"), day=MONDAY + timedelta(days=40)))  # outside the period
    return out


def build(mentions: list[MapMention] | None = None, **kwargs: Any) -> dict[str, Any]:
    return build_cx_map(sample_mentions() if mentions is None else mentions, stages=STAGES, period_start=MONDAY,
                        period_end=MONDAY + timedelta(days=13), title="Sorami — customer journey map", **kwargs)


def stage_of(data: dict[str, Any], name: str) -> int:
    return [stage for stage, _ in data["stages"]].index(name)


def test_the_header_counts_distinct_mentions_while_each_stage_counts_its_own():
    data = build()
    assert sum(row[4] for row in data["totals"]) == 6 + 3 + 5 + 5 + 1  # the mention outside the period is left out
    assert sum(row[5] for row in data["totals"]) == 19  # linked to at least one stage
    per_stage = {data["stages"][row[4]][0]: 0 for row in data["cells"]}
    for row in data["cells"]:
        per_stage[data["stages"][row[4]][0]] += row[5]
    assert per_stage == {"delivery": 9, "support": 6, "exit": 10, "loyalty": 5}  # 30 stage links for 19 mentions


def test_themes_below_k_authors_are_hidden_and_counted_per_stage():
    data = build()
    delivery = data["scopes"]["0|-1|-1|-1"][str(stage_of(data, "delivery"))]
    assert delivery["pain"] == [["late_delivery", 6]]
    assert delivery["pain_hidden"] == [1, 3]  # wrong_item: 3 mentions by 3 authors
    exit_cell = data["scopes"]["0|-1|-1|-1"][str(stage_of(data, "exit"))]
    assert exit_cell["exit"] == [["cancellation", 5], ["uninstall", 5]]
    thai_exit = data["scopes"][f"0|{data['languages'].index('th')}|-1|-1"][str(stage_of(data, "exit"))]
    assert thai_exit["exit"] == [["cancellation", 5]] and thai_exit["exit_hidden"] == [0, 0]
    week = build(min_authors=6)["scopes"]["0|-1|-1|-1"][str(stage_of(data, "exit"))]
    assert week["exit"] == [] and week["exit_hidden"] == [2, 10] and week["quotes_hidden"] >= 1
    with pytest.raises(ValueError, match="min_authors=0"):
        build(min_authors=0)


def test_quotes_come_only_from_mentions_whose_primary_stage_fits_and_are_redacted():
    data = build()
    quotes = {data["stages"][s][0]: [data["quotes"][q] for q in cell["quotes"]]
              for s, cell in ((int(k), v) for k, v in data["scopes"]["0|-1|-1|-1"].items())}
    assert not quotes.get("loyalty"), "a deletion request is never a loyalty voice"
    assert not any("delete my account" in q["text"] for qs in quotes.values() for q in qs)
    assert [q["theme"] for q in quotes["delivery"]] == ["late_delivery"]
    assert "[PHONE]" in quotes["delivery"][0]["text"] and "0912 345 678" not in json.dumps(data)
    assert not quotes.get("support"), "support is not the primary stage of the late-delivery posts"
    assert quotes["exit"][0]["text"] == "จะยกเลิกแล้ว ส่งช้ามาก" and quotes["exit"][0]["language"] == "th"


def test_filters_list_every_brand_language_channel_and_week_and_cells_carry_the_weekly_trend():
    data = build([*sample_mentions(), mention(50, link("usage", "app_crash"), brand="Acme", language="vi",
                                              channel="google_play", day=MONDAY + timedelta(days=8))])
    assert data["brands"] == ["Acme", "Sorami"] and data["languages"] == ["en", "th", "vi"]
    assert data["channels"] == ["app_store", "google_play", "x"]
    assert data["weeks"] == ["2026-11-02", "2026-11-09"] and data["period"] == ["2026-11-02", "2026-11-15"]
    delivery = stage_of(data, "delivery")
    weekly = [sum(r[5] for r in data["cells"] if r[4] == delivery and r[3] == w) for w in range(2)]
    assert weekly == [9, 0]  # late deliveries on days 0-5 and wrong items on day 0; day 40 is outside the period
    acme_week_2 = data["scopes"]["0|-1|-1|1"][str(stage_of(data, "usage"))]
    assert acme_week_2["pain"] == [] and acme_week_2["pain_hidden"] == [1, 1]


def test_the_page_is_one_offline_file_with_the_data_the_filters_and_a_thai_capable_font_stack(tmp_path: Path):
    out = render_cx_map(build(), out_path=tmp_path / "maps" / "map.html")
    page = out.read_text(encoding="utf-8")
    assert out == tmp_path / "maps" / "map.html"
    assert not re.search(r"<script src=|<link|@import|url\(|https?://(?!www\.w3\.org/2000/svg)", page)
    for select in ("f-brand", "f-language", "f-channel", "f-period"):
        assert f'<select id="{select}">' in page
    assert FONT_STACK in page and '"Noto Sans Thai"' in FONT_STACK
    embedded = re.search(r'<script type="application/json" id="cx-data">(.*?)</script>', page, re.S)
    assert embedded and json.loads(embedded.group(1))["k"] == 5


def test_all_text_is_escaped_so_injected_markup_never_runs(tmp_path: Path):
    evil = [mention(i, link(f"stage{XSS}", f"pain{XSS}"), brand=f"Evil{XSS}", language=f"en{XSS}",
                    channel=f"chan{XSS}", text=f"quote{XSS}") for i in range(6)]
    data = build_cx_map(evil, stages=[(f"stage{XSS}", f"Stage{XSS}")], period_start=MONDAY, period_end=MONDAY,
                        title=f"Evil{XSS}")
    page = render_cx_map(data, out_path=tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<img" not in page and '<script>alert("x")' not in page
    assert "<title>Evil&lt;script&gt;alert(&quot;x&quot;)" in page
    # inside the JSON every "<" is \\u003c, so no text can close the data block; the script uses textContent only
    assert page.count("</script>") == 2 and "innerHTML" not in page


def test_an_empty_period_and_reversed_dates_are_handled():
    data = build([])
    assert data["totals"] == [] and data["cells"] == [] and data["scopes"] == {}
    with pytest.raises(ValueError, match="ends 2026-11-01 before it starts"):
        build_cx_map([], stages=STAGES, period_start=MONDAY, period_end=date(2026, 11, 1), title="x")


def test_the_map_lists_escalations_per_rule_stage_and_pain_point_without_any_text() -> None:
    from journeys.cxmap import escalation_section

    rows = [{"rule_id": "public-exits", "stage": "exit", "pain_point": None, "escalations": 4, "sent": 3, "dead": 1,
             "avg_minutes_pulled_to_sent": 0.25},
            {"rule_id": "refund-delays", "stage": "support", "pain_point": "refund_delay", "escalations": 2, "sent": 2,
             "dead": 0, "avg_minutes_pulled_to_sent": None}]
    html_text = escalation_section(rows)
    assert "<h2>Escalations</h2>" in html_text
    assert "<td>public-exits</td><td>exit</td><td></td><td>4</td><td>3</td><td>1</td><td>0.2</td>" in html_text
    assert "<td>refund_delay</td><td>2</td><td>2</td><td>0</td><td></td>" in html_text
    assert escalation_section([]) == ""
