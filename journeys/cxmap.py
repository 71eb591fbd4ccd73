"""The CX journey map: one self-contained, offline HTML file per brand and period.

Every string that reaches the page is HTML-escaped, quotes are redacted again on the way in,
and pain points, exit signals and quotes are shown only when at least ``min_authors`` distinct
authors stand behind them (k-anonymity); hidden ones are counted, never listed.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from journeys.redaction import redact

__all__ = ["K_ANONYMITY", "STAGE_LABELS", "JourneyMap", "PainPointStat", "Quote", "StageCell", "render_cx_map"]

log = logging.getLogger(__name__)

K_ANONYMITY = 5
"""Fewest distinct authors behind a pain point, exit signal or quote before it is shown."""

STAGE_LABELS = {
    "awareness": "Awareness", "consideration": "Consideration", "purchase": "Purchase",
    "delivery": "Delivery / onboarding", "usage": "Usage", "support": "Support",
    "loyalty": "Loyalty / advocacy", "exit": "Exit",
}
"""Display labels of the stages of the bundled taxonomy (journeys/taxonomy.yaml), left to right;
a StageCell may carry its own label (e.g. from an edited taxonomy)."""

_MAX_LISTED = 5


@dataclass(frozen=True)
class PainPointStat:
    """A pain point (or exit signal) in one stage: mentions and the distinct authors behind them."""

    name: str
    mentions: int
    authors: int


@dataclass(frozen=True)
class Quote:
    """A representative mention; ``authors`` counts distinct authors of the theme it stands for."""

    text: str
    authors: int
    language: str | None = None
    sentiment: str | None = None
    channel: str | None = None
    pain_point: str | None = None


@dataclass(frozen=True)
class StageCell:
    stage: str
    volume: int
    positive: int
    neutral: int
    negative: int
    previous_volume: int | None = None
    previous_net: float | None = None  # net sentiment of the previous period, in points (-100..100)
    pain_points: tuple[PainPointStat, ...] = ()
    channels: tuple[tuple[str, int], ...] = ()  # (channel/touchpoint, mentions)
    exit_signals: tuple[PainPointStat, ...] = ()
    quotes: tuple[Quote, ...] = ()
    label: str | None = None

    def __post_init__(self) -> None:
        if min(self.volume, self.positive, self.neutral, self.negative) < 0 or \
                self.positive + self.neutral + self.negative > self.volume:
            raise ValueError(f"stage {self.stage!r}: sentiment counts {self.positive}/{self.neutral}/"
                             f"{self.negative} must be >= 0 and sum to at most volume {self.volume}")

    @property
    def display_label(self) -> str:
        return self.label or STAGE_LABELS.get(self.stage, self.stage)

    @property
    def net(self) -> float:
        """Net sentiment in points: (positive - negative) / volume * 100."""
        return (self.positive - self.negative) / self.volume * 100 if self.volume else 0.0


@dataclass(frozen=True)
class JourneyMap:
    """One brand's stages for one period, in the left-to-right order they are drawn."""

    brand: str
    period_start: date
    period_end: date
    stages: tuple[StageCell, ...]
    previous_label: str = "previous period"

    def __post_init__(self) -> None:
        ids = [cell.stage for cell in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError(f"journey map for {self.brand!r}: stage ids repeat in {ids}; give one cell per stage")
        if self.period_end < self.period_start:
            raise ValueError(f"journey map for {self.brand!r}: period ends {self.period_end} "
                             f"before it starts {self.period_start}")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _trend(cell: StageCell) -> str:
    if cell.previous_net is None:
        return '<div class="trend flat">no previous period</div>'
    delta = cell.net - cell.previous_net
    arrow, css = ("▲", "up") if delta > 0.5 else (("▼", "down") if delta < -0.5 else ("▶", "flat"))
    volume = ""
    if cell.previous_volume:
        volume = f" · volume {(cell.volume - cell.previous_volume) / cell.previous_volume:+.0%}"
    return f'<div class="trend {css}">{arrow} {delta:+.1f} pts net{_e(volume)}</div>'


def _split_bar(cell: StageCell) -> str:
    if not cell.volume:
        return '<div class="bar empty">no mentions</div>'
    parts = []
    for css, count in (("pos", cell.positive), ("neu", cell.neutral), ("neg", cell.negative)):
        share = count / cell.volume * 100
        parts.append(f'<span class="{css}" style="width:{share:.1f}%" title="{css} {share:.0f}%"></span>')
    shares = f"{cell.positive / cell.volume:.0%} / {cell.neutral / cell.volume:.0%} / {cell.negative / cell.volume:.0%}"
    return f'<div class="bar">{"".join(parts)}</div><div class="shares">{shares} pos/neu/neg</div>'


def _stat_list(title: str, stats: tuple[PainPointStat, ...], min_authors: int) -> str:
    shown = sorted((s for s in stats if s.authors >= min_authors), key=lambda s: (-s.mentions, s.name))
    hidden = len(stats) - len(shown)
    items = "".join(f"<li>{_e(s.name)} <b>{s.mentions}</b></li>" for s in shown[:_MAX_LISTED])
    note = f'<p class="hidden">{hidden} with fewer than {min_authors} authors not shown</p>' if hidden else ""
    return f"<h4>{_e(title)}</h4><ul>{items or '<li class=none>none shown</li>'}</ul>{note}"


def _quotes(cell: StageCell, min_authors: int, keep: tuple[str, ...]) -> str:
    shown = [q for q in cell.quotes if q.authors >= min_authors][:3]
    items = []
    for quote in shown:
        text = redact(quote.text, language=quote.language, keep=keep).text
        meta = " · ".join(_e(v) for v in (quote.pain_point, quote.channel, quote.language, quote.sentiment) if v)
        items.append(f'<blockquote lang="{_e(quote.language or "")}">{_e(text)}<footer>{meta}</footer></blockquote>')
    hidden = len(cell.quotes) - len(shown)
    note = f'<p class="hidden">{hidden} quotes not shown</p>' if hidden else ""
    return f"<h4>Voices</h4>{''.join(items) or '<p class=none>none shown</p>'}{note}"


def _column(cell: StageCell, min_authors: int, keep: tuple[str, ...]) -> str:
    channels = sorted(cell.channels, key=lambda c: (-c[1], c[0]))[:_MAX_LISTED]
    channel_items = "".join(f"<li>{_e(name)} <b>{count}</b></li>" for name, count in channels)
    return (
        f'<section class="stage" data-stage="{_e(cell.stage)}">'
        f"<h3>{_e(cell.display_label)}</h3>"
        f'<div class="volume"><b>{cell.volume}</b> mentions</div>'
        f"{_split_bar(cell)}"
        f'<div class="net">net <b>{cell.net:+.0f}</b></div>{_trend(cell)}'
        f"{_stat_list('Top pain points', cell.pain_points, min_authors)}"
        f"<h4>Channels</h4><ul>{channel_items or '<li class=none>none</li>'}</ul>"
        f"{_stat_list('Exit signals', cell.exit_signals, min_authors)}"
        f"{_quotes(cell, min_authors, keep)}</section>"
    )


def _figure(journey_map: JourneyMap) -> str:
    labels = [_e(cell.display_label) for cell in journey_map.stages]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, attr, colour in (("positive", "positive", "#2e9d5b"), ("neutral", "neutral", "#b9bec7"),
                               ("negative", "negative", "#d64545")):
        shares = [getattr(c, attr) / c.volume * 100 if c.volume else 0 for c in journey_map.stages]
        fig.add_trace(go.Bar(x=labels, y=shares, name=f"% {name}", marker_color=colour), secondary_y=False)
    fig.add_trace(go.Scatter(x=labels, y=[c.net for c in journey_map.stages], name="net sentiment",
                             mode="lines+markers", line={"color": "#1f2a44", "width": 3}), secondary_y=True)
    fig.update_layout(barmode="stack", height=360, margin={"l": 40, "r": 40, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": 1.12}, template="plotly_white")
    fig.update_yaxes(title_text="% of mentions", range=[0, 100], secondary_y=False)
    fig.update_yaxes(title_text="net", range=[-100, 100], secondary_y=True)
    return str(fig.to_html(full_html=False, include_plotlyjs=True, div_id="cx-sentiment",
                           config={"displaylogo": False, "responsive": True}))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Thai",sans-serif;
margin:24px;color:#1f2a44}
h1{font-size:22px;margin:0 0 4px}.sub{color:#5b6477;margin:0 0 12px}
.stages{display:grid;grid-template-columns:repeat(var(--n),minmax(150px,1fr));gap:10px}
.stage{background:#f6f7fa;border-radius:8px;padding:10px;font-size:13px;overflow-wrap:anywhere}
.stage h3{margin:0 0 6px;font-size:15px}
.stage h4{margin:10px 0 4px;font-size:12px;text-transform:uppercase;color:#5b6477}
.stage ul{margin:0;padding-left:16px}.volume b{font-size:20px}
.bar{display:flex;height:12px;border-radius:6px;overflow:hidden;background:#e3e6ec;margin:6px 0 2px}
.bar .pos{background:#2e9d5b}.bar .neu{background:#b9bec7}.bar .neg{background:#d64545}
.shares,.hidden,.none{color:#5b6477;font-size:11px}.trend.up{color:#2e9d5b}.trend.down{color:#d64545}.trend.flat{color:#5b6477}
blockquote{margin:6px 0;padding:6px 8px;background:#fff;border-left:3px solid #8a94a8}
blockquote footer{color:#5b6477;font-size:11px;margin-top:3px}
"""


def render_cx_map(journey_map: JourneyMap, *, out_path: Path | str, min_authors: int = K_ANONYMITY,
                  keep: tuple[str, ...] = ()) -> Path:
    """Write the map as one HTML file with plotly.js inlined (opens offline, no server); return its path.

    ``keep`` lists brand/product words the quote redaction must not take for names.
    """
    if min_authors < 1:
        raise ValueError(f"min_authors={min_authors} must be >= 1 (k-anonymity default {K_ANONYMITY})")
    keep = (journey_map.brand, *keep)
    out_path = Path(out_path)
    title = f"{journey_map.brand} — customer journey map, {journey_map.period_start} to {journey_map.period_end}"
    columns = "".join(_column(cell, min_authors, keep) for cell in journey_map.stages)
    total = sum(cell.volume for cell in journey_map.stages)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="sub">{total} stage-linked mentions · trend vs {_e(journey_map.previous_label)} · '
        f"pain points, exit signals and quotes shown only with at least {min_authors} distinct authors · "
        f"personal data redacted · generated {generated}</p>"
        f"{_figure(journey_map)}"
        f'<div class="stages" style="--n:{max(len(journey_map.stages), 1)}">{columns}</div>'
        f"</body></html>\n"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    log.info("wrote CX map for %s with %d stages to %s", journey_map.brand, len(journey_map.stages), out_path)
    return out_path
