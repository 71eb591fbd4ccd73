"""The CX journey map HTML: stage content, k-anonymity, escaping, self-contained output."""

import re
from datetime import date
from pathlib import Path

import pytest

from journeys.cxmap import STAGE_LABELS, JourneyMap, PainPointStat, Quote, StageCell, render_cx_map

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def sample_map(brand: str = "Sorami") -> JourneyMap:
    """Eight stages with sentiment, trends, pain points, channels, exit signals and quotes."""
    cells = []
    for i, stage in enumerate(STAGE_LABELS):
        pos, neu, neg = 40 + i * 3, 30, 10 + i * 4
        cells.append(StageCell(
            stage=stage, volume=pos + neu + neg, positive=pos, neutral=neu, negative=neg,
            previous_volume=70, previous_net=10.0 - i * 5,
            pain_points=(PainPointStat(f"{stage} slow response", 30 - i, 12), PainPointStat(f"{stage} price", 9, 6),
                         PainPointStat(f"{stage} rare complaint", 25, 3)),
            channels=(("app review", 40), ("social", 25 + i)),
            exit_signals=(PainPointStat("switching to competitor", 6, 5),) if stage in ("support", "exit") else (),
            quotes=(Quote(f"The {stage} step took forever, call me 0912 345 678", authors=8, language="en",
                          sentiment="negative", channel="social", pain_point=f"{stage} slow response"),
                    Quote(f"Only I had this {stage} issue", authors=2, language="en")),
        ))
    return JourneyMap(brand=brand, period_start=date(2026, 11, 1), period_end=date(2026, 11, 24), stages=tuple(cells))


def _stage_section(page: str, stage: str) -> str:
    match = re.search(rf'<section class="stage" data-stage="{stage}">(.*?)</section>', page, re.S)
    assert match, f"no section for {stage}"
    return match.group(1)


def test_the_map_is_one_self_contained_file_with_plotly_inlined(tmp_path: Path):
    out = render_cx_map(sample_map(), out_path=tmp_path / "maps" / "sorami.html")
    page = out.read_text(encoding="utf-8")
    assert out == tmp_path / "maps" / "sorami.html"
    assert "<script src=" not in page and "<link" not in page
    assert "Plotly.newPlot" in page and 'id="cx-sentiment"' in page and len(page) > 1_000_000
    assert "Sorami — customer journey map, 2026-11-01 to 2026-11-24" in page


def test_every_stage_appears_left_to_right_with_volume_split_net_and_trend(tmp_path: Path):
    page = render_cx_map(sample_map(), out_path=tmp_path / "m.html").read_text(encoding="utf-8")
    positions = [page.index(f'data-stage="{stage}"') for stage in STAGE_LABELS]
    assert positions == sorted(positions)
    usage = _stage_section(page, "usage")  # 52 pos, 30 neu, 26 neg; previous net -10
    assert "<b>108</b> mentions" in usage
    assert "48% / 28% / 24% pos/neu/neg" in usage
    assert "net <b>+24</b>" in usage
    assert "▲ +34.1 pts net" in usage and "volume +54%" in usage
    assert "app review <b>40</b>" in usage and "social <b>29</b>" in usage


def test_pain_points_exit_signals_and_quotes_below_five_authors_are_hidden_but_counted(tmp_path: Path):
    page = render_cx_map(sample_map(), out_path=tmp_path / "m.html").read_text(encoding="utf-8")
    support = _stage_section(page, "support")
    assert "support slow response <b>25</b>" in support and "support price <b>9</b>" in support
    assert "rare complaint" not in support
    assert "1 with fewer than 5 authors not shown" in support
    assert "switching to competitor <b>6</b>" in support
    assert "took forever" in support and "Only I had this" not in support
    assert "1 quotes not shown" in support
    assert "switching to competitor" not in _stage_section(page, "usage")


def test_quotes_are_redacted_again_when_rendered(tmp_path: Path):
    page = render_cx_map(sample_map(), out_path=tmp_path / "m.html").read_text(encoding="utf-8")
    assert "0912 345 678" not in page
    assert "call me [PHONE]" in page


def test_a_higher_k_hides_more(tmp_path: Path):
    page = render_cx_map(sample_map(), out_path=tmp_path / "m.html", min_authors=10).read_text(encoding="utf-8")
    assert "support price" not in page and "support slow response" in page
    with pytest.raises(ValueError, match="min_authors=0"):
        render_cx_map(sample_map(), out_path=tmp_path / "m.html", min_authors=0)


def test_all_text_is_escaped_so_injected_markup_never_runs(tmp_path: Path):
    base = sample_map(brand=f"Evil{XSS}")
    first = base.stages[0]
    evil = StageCell(
        stage=first.stage, volume=10, positive=5, neutral=3, negative=2, label=f"Stage{XSS}",
        pain_points=(PainPointStat(f"pain{XSS}", 9, 9),), channels=((f"chan{XSS}", 4),),
        exit_signals=(PainPointStat(f"exit{XSS}", 7, 7),), quotes=(Quote(f"quote{XSS}", 9, language=f"en{XSS}"),),
    )
    journey = JourneyMap(brand=base.brand, period_start=base.period_start, period_end=base.period_end,
                         stages=(evil, *base.stages[1:]))
    page = render_cx_map(journey, out_path=tmp_path / "m.html").read_text(encoding="utf-8")
    assert "<img" not in page and 'alert("x")' not in page and "onerror=alert(1)>" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 7
    # the plotly figure JSON carries the escaped stage label, so no "</script>" can close the script block
    assert "Stage&lt;script&gt;" in page.split('id="cx-sentiment"')[1]


def test_empty_stages_render_without_dividing_by_zero(tmp_path: Path):
    journey = JourneyMap("Sorami", date(2026, 11, 1), date(2026, 11, 7), (StageCell("exit", 0, 0, 0, 0),))
    page = render_cx_map(journey, out_path=tmp_path / "m.html").read_text(encoding="utf-8")
    assert "no mentions" in _stage_section(page, "exit") and "no previous period" in page


def test_inconsistent_counts_and_repeated_stages_are_rejected():
    with pytest.raises(ValueError, match="sum to at most volume 5"):
        StageCell("usage", 5, 4, 2, 1)
    cell = StageCell("usage", 5, 1, 1, 1)
    with pytest.raises(ValueError, match="stage ids repeat"):
        JourneyMap("Sorami", date(2026, 11, 1), date(2026, 11, 7), (cell, cell))
