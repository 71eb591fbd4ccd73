"""The CX journey map: one self-contained, offline HTML file with filters and a weekly trend per stage.

``build_cx_map`` turns the period's mentions (with their current journey links) into the map's data;
``render_cx_map`` writes it as one HTML file (data as JSON, drawn by a small inline script; no
network, no external files). The reader filters by brand, language, channel and period (the whole
period or one week); every view shows, per stage, distinct mentions, the sentiment split, net
sentiment, weekly volume and net sentiment, top pain points, exit signals and redacted quotes.

Privacy: a pain point, exit signal or quote is listed only when at least ``min_authors`` distinct
authors stand behind it in the view shown (k-anonymity); the page states how many were hidden.
Volumes and sentiment counts are always shown. Quotes are redacted, and a mention is quoted only
under its primary stage (its most confident link) and, when it carries an exit signal, only under
that signal's stage: a deletion request is never shown as a loyalty voice.
Every string reaches the page through ``textContent`` or as escaped HTML, never as markup.
"""

from __future__ import annotations

import html
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from journeys.redaction import redact

__all__ = ["FONT_STACK", "K_ANONYMITY", "STAGE_LABELS", "MapLink", "MapMention", "build_cx_map", "render_cx_map"]

log = logging.getLogger(__name__)

K_ANONYMITY = 5
"""Fewest distinct authors behind a pain point, exit signal or quote before it is shown."""

STAGE_LABELS = {
    "awareness": "Awareness", "consideration": "Consideration", "purchase": "Purchase",
    "delivery": "Delivery / onboarding", "usage": "Usage", "support": "Support",
    "loyalty": "Loyalty / advocacy", "exit": "Exit",
}
"""Display labels of the stages of the bundled taxonomy (journeys/taxonomy.yaml), left to right."""

FONT_STACK = ('"Noto Sans", "Noto Sans Thai", "Noto Sans Thai UI", "Noto Sans Arabic", "Segoe UI", '
              '"Leelawadee UI", Tahoma, Thonburi, "Sukhumvit Set", Sarabun, Loma, Garuda, "TLWG Typist", '
              'Roboto, "Helvetica Neue", Arial, system-ui, sans-serif')
"""Fonts with Latin + Vietnamese, Thai and Arabic glyphs on Linux (Noto, TLWG), Windows (Segoe UI,
Leelawadee UI, Tahoma), macOS/iOS (Thonburi, Sukhumvit Set) and Android (Noto/Roboto), then the
system's own fallback; nothing is downloaded."""

MAX_LISTED = 5
MAX_QUOTES = 3
ALL = -1  # filter index meaning "every value"


@dataclass(frozen=True)
class MapLink:
    """One current journey link of a mention."""

    stage: str
    pain_point: str | None
    exit_signal: str | None
    confidence: float


@dataclass(frozen=True)
class MapMention:
    """A mention in the map's period: its dimensions, sentiment, author pseudonym, text and links."""

    mention_id: str
    brand: str
    language: str | None
    channel: str | None
    author: str | None
    day: date
    sentiment: str | None
    sentiment_confidence: float | None
    text: str
    links: tuple[MapLink, ...] = ()

    def primary_stage(self, order: dict[str, int]) -> str | None:
        """The most confident link's stage (ties: earlier in the journey); None when not linked."""
        if not self.links:
            return None
        best = min(self.links, key=lambda link: (-link.confidence, order.get(link.stage, len(order)), link.stage))
        return best.stage

    def quotable_under(self, stage: str, order: dict[str, int]) -> bool:
        """Its primary stage is ``stage`` and, if it carries exit signals, one of them is linked at ``stage``."""
        exits = {link.stage for link in self.links if link.exit_signal}
        return self.primary_stage(order) == stage and (not exits or stage in exits)


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


@dataclass
class _Theme:
    mentions: set[str] = field(default_factory=set)
    authors: set[str] = field(default_factory=set)
    best: tuple[float, str] | None = None  # (-rank, mention id) of the best quotable mention


@dataclass
class _Cell:
    """Pain points, exit signals and quote candidates of one stage in one filter scope."""

    authors: set[str] = field(default_factory=set)
    themes: dict[tuple[str, str], _Theme] = field(default_factory=dict)  # ("pain" | "exit", name)
    best: tuple[float, str] | None = None  # stage-level quote candidate


def _better(current: tuple[float, str] | None, candidate: tuple[float, str]) -> tuple[float, str]:
    return candidate if current is None or candidate < current else current


def _index(values: Iterable[str]) -> tuple[list[str], dict[str, int]]:
    ordered = sorted(set(values))
    return ordered, {value: i for i, value in enumerate(ordered)}


def build_cx_map(
    mentions: Sequence[MapMention],
    *,
    stages: Sequence[tuple[str, str]],
    period_start: date,
    period_end: date,
    title: str,
    min_authors: int = K_ANONYMITY,
    keep: Sequence[str] = (),
) -> dict[str, Any]:
    """The map's data (JSON-ready) for mentions created from ``period_start`` to ``period_end`` (days, inclusive).

    ``stages`` are (id, label) in journey order; stages found in links but not listed are appended.
    ``keep`` lists brand/product words the quote redaction must not take for names.
    """
    if min_authors < 1:
        raise ValueError(f"min_authors={min_authors} must be >= 1 (k-anonymity default {K_ANONYMITY})")
    if period_end < period_start:
        raise ValueError(f"CX map period ends {period_end} before it starts {period_start}")
    inside = [m for m in mentions if period_start <= m.day <= period_end]
    stage_list = list(stages)
    known = {stage for stage, _ in stage_list}
    for extra in sorted({link.stage for m in inside for link in m.links} - known):
        stage_list.append((extra, extra))
    order = {stage: i for i, (stage, _) in enumerate(stage_list)}
    brands, brand_ix = _index(m.brand for m in inside)
    languages, lang_ix = _index(m.language or "und" for m in inside)
    channels, chan_ix = _index(m.channel or "unknown" for m in inside)
    weeks: list[date] = []
    week = week_of(period_start)
    while week <= period_end:
        weeks.append(week)
        week += timedelta(days=7)
    week_ix = {w: i for i, w in enumerate(weeks)}

    cells: dict[tuple[int, int, int, int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    totals: dict[tuple[int, int, int, int], list[int]] = defaultdict(lambda: [0, 0])
    scopes: dict[tuple[int, int, int, int], dict[int, _Cell]] = defaultdict(lambda: defaultdict(_Cell))
    by_id = {m.mention_id: m for m in inside}
    for m in inside:
        dims = (brand_ix[m.brand], lang_ix[m.language or "und"], chan_ix[m.channel or "unknown"], week_ix[week_of(m.day)])
        totals[dims][0] += 1
        totals[dims][1] += bool(m.links)
        keys = [(b, lang, c, p) for b in (dims[0], ALL) for lang in (dims[1], ALL) for c in (dims[2], ALL)
                for p in (dims[3], ALL)]
        for stage in dict.fromkeys(link.stage for link in m.links):
            s = order[stage]
            counts = cells[(*dims, s)]
            counts[0] += 1
            if m.sentiment in ("positive", "neutral", "negative"):
                counts[("positive", "neutral", "negative").index(m.sentiment) + 1] += 1
            at_stage = [link for link in m.links if link.stage == stage]
            quotable = m.quotable_under(stage, order)
            rank = (-((m.sentiment_confidence or 0.0) + max(link.confidence for link in at_stage)), m.mention_id)
            for key in keys:
                cell = scopes[key][s]
                if m.author:
                    cell.authors.add(m.author)
                if quotable:
                    cell.best = _better(cell.best, rank)
                for link in at_stage:
                    for kind, name in (("pain", link.pain_point), ("exit", link.exit_signal)):
                        if not name:
                            continue
                        theme = cell.themes.setdefault((kind, name), _Theme())
                        theme.mentions.add(m.mention_id)
                        if m.author:
                            theme.authors.add(m.author)
                        if quotable:
                            theme.best = _better(theme.best, rank)

    quotes: list[dict[str, Any]] = []
    quote_ix: dict[str, int] = {}

    def quote(mention_id: str, stage: str, theme: str | None) -> int:
        if mention_id not in quote_ix:
            m = by_id[mention_id]
            quote_ix[mention_id] = len(quotes)
            quotes.append({"text": redact(m.text, language=m.language, keep=tuple(keep)).text, "language": m.language,
                           "sentiment": m.sentiment, "channel": m.channel, "stage": stage, "theme": theme})
        return quote_ix[mention_id]

    scope_data: dict[str, dict[str, Any]] = {}
    for key, per_stage in scopes.items():
        out: dict[str, Any] = {}
        for s, cell in per_stage.items():
            stage = stage_list[s][0]
            entry: dict[str, Any] = {}
            chosen: list[int] = []
            used: set[str] = set()
            withheld = 0
            for kind in ("pain", "exit"):
                themes = sorted(((name, t) for (k, name), t in cell.themes.items() if k == kind),
                                key=lambda item: (-len(item[1].mentions), item[0]))
                shown = [(name, t) for name, t in themes if len(t.authors) >= min_authors]
                hidden = [t for _, t in themes if len(t.authors) < min_authors]
                entry[kind] = [[name, len(t.mentions)] for name, t in shown[:MAX_LISTED]]
                entry[f"{kind}_hidden"] = [len(hidden), sum(len(t.mentions) for t in hidden)]
                withheld += sum(t.best is not None for t in hidden)
                for name, t in shown:
                    if t.best is not None and len(chosen) < MAX_QUOTES and t.best[1] not in used:
                        used.add(t.best[1])
                        chosen.append(quote(t.best[1], stage, name))
            if cell.best is not None and len(chosen) < MAX_QUOTES and cell.best[1] not in used:
                if len(cell.authors) >= min_authors:
                    chosen.append(quote(cell.best[1], stage, None))
                else:
                    withheld += 1
            entry["quotes"] = chosen
            entry["quotes_hidden"] = withheld
            if entry["pain"] or entry["exit"] or chosen or entry["pain_hidden"][0] or entry["exit_hidden"][0] or withheld:
                out[str(s)] = entry
        if out:
            scope_data["|".join(str(i) for i in key)] = out

    return {
        "title": title,
        "period": [period_start.isoformat(), period_end.isoformat()],
        "k": min_authors,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "stages": [[stage, label] for stage, label in stage_list],
        "brands": brands,
        "languages": languages,
        "channels": channels,
        "weeks": [w.isoformat() for w in weeks],
        "cells": [[*k, *v] for k, v in sorted(cells.items())],
        "totals": [[*k, *v] for k, v in sorted(totals.items())],
        "scopes": scope_data,
        "quotes": quotes,
    }


_CSS = """
body{font-family:%(fonts)s;margin:20px;color:#1f2a44;background:#fff}
h1{font-size:21px;margin:0 0 8px}
.filters{display:flex;flex-wrap:wrap;gap:8px 16px;margin:0 0 8px;font-size:13px}
.filters select{font:inherit;padding:2px 4px;margin-left:4px;max-width:260px}
.sub{color:#3d4659;margin:0 0 4px;font-size:14px}.sub b{font-size:16px}
.privacy{color:#5b6477;margin:0 0 12px;font-size:12px;border-left:3px solid #8a94a8;padding-left:8px}
.stages{display:grid;grid-template-columns:repeat(var(--n),minmax(150px,1fr));gap:10px}
.stage{background:#f6f7fa;border-radius:8px;padding:10px;font-size:13px;overflow-wrap:anywhere}
.stage h3{margin:0 0 6px;font-size:15px}
.stage h4{margin:10px 0 4px;font-size:11px;text-transform:uppercase;letter-spacing:.03em;color:#5b6477}
.stage ul{margin:0;padding-left:16px}.volume b{font-size:20px}
.bar{display:flex;height:12px;border-radius:6px;overflow:hidden;background:#e3e6ec;margin:6px 0 2px}
.bar .pos{background:#2e9d5b}.bar .neu{background:#b9bec7}.bar .neg{background:#d64545}
.shares,.hidden,.none,.caption{color:#5b6477;font-size:11px}
.net b.up{color:#2e9d5b}.net b.down{color:#d64545}
svg.trend{display:block;width:100%%;height:46px;margin-top:4px}
svg.trend .vol{fill:#b7c3dd}svg.trend .vol.on{fill:#4a5f8f}svg.trend .line{fill:none;stroke:#d64545;stroke-width:1.5}
svg.trend .zero{stroke:#c9ced8;stroke-dasharray:2 2}svg.trend .dot{fill:#d64545}
blockquote{margin:6px 0;padding:6px 8px;background:#fff;border-left:3px solid #8a94a8}
blockquote footer{color:#5b6477;font-size:11px;margin-top:3px}
"""

_JS = r"""
(function () {
"use strict";
var D = JSON.parse(document.getElementById("cx-data").textContent);
var SVG = "http://www.w3.org/2000/svg";
function $(id) { return document.getElementById(id); }
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svg(tag, attrs) {
  var e = document.createElementNS(SVG, tag);
  Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  return e;
}
var FILTERS = [["brand", "f-brand", D.brands, "All brands"], ["language", "f-language", D.languages, "All languages"],
               ["channel", "f-channel", D.channels, "All channels"],
               ["period", "f-period", D.weeks, "Whole period, " + D.period[0] + " to " + D.period[1]]];
FILTERS.forEach(function (f) {
  var select = $(f[1]);
  select.appendChild(new Option(f[3], "-1"));
  f[2].forEach(function (v, i) { select.appendChild(new Option(f[0] === "period" ? "Week of " + v : v, String(i))); });
  select.addEventListener("change", function () { render(true); });
});
var wanted = new URLSearchParams(location.hash.slice(1));
FILTERS.forEach(function (f) {
  var v = wanted.get(f[0]);
  if (v !== null && f[2].indexOf(v) >= 0) $(f[1]).value = String(f[2].indexOf(v));
});
function chosen() { return FILTERS.map(function (f) { return parseInt($(f[1]).value, 10); }); }
function fits(row, f, anyWeek) {
  return (f[0] < 0 || row[0] === f[0]) && (f[1] < 0 || row[1] === f[1]) && (f[2] < 0 || row[2] === f[2]) &&
         (anyWeek || f[3] < 0 || row[3] === f[3]);
}
function share(n, d) { return d ? Math.round(n / d * 100) : 0; }
function net(c) { var scored = c[1] + c[2] + c[3]; return scored ? Math.round((c[1] - c[3]) / scored * 100) : null; }
function signed(n) { return n === null ? "n/a" : (n > 0 ? "+" : "") + n; }
function list(title, items, hidden, k) {
  var frag = document.createDocumentFragment();
  frag.appendChild(el("h4", null, title));
  var ul = el("ul");
  items.forEach(function (it) { var li = el("li", null, it[0] + " "); li.appendChild(el("b", null, it[1])); ul.appendChild(li); });
  if (!items.length) ul.appendChild(el("li", "none", "none shown"));
  frag.appendChild(ul);
  if (hidden[0]) frag.appendChild(el("p", "hidden", hidden[0] + " with fewer than " + k + " authors hidden (" + hidden[1] + " mentions)"));
  return frag;
}
function trend(weeks, week) {
  var w = 140, h = 46, n = weeks.length, max = 1;
  weeks.forEach(function (c) { max = Math.max(max, c[0]); });
  var box = svg("svg", {"class": "trend", viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none", role: "img"});
  var step = w / Math.max(n, 1), points = [];
  box.appendChild(svg("line", {"class": "zero", x1: 0, x2: w, y1: h / 2, y2: h / 2}));
  weeks.forEach(function (c, i) {
    var bh = c[0] / max * (h - 6);
    box.appendChild(svg("rect", {"class": "vol" + (i === week ? " on" : ""), x: i * step + 1, y: h - bh,
                                 width: Math.max(step - 2, 1), height: bh}));
    var v = net(c);
    if (v !== null) points.push([i * step + step / 2, h / 2 - v / 100 * (h / 2 - 3)]);
  });
  if (points.length > 1) box.appendChild(svg("polyline", {"class": "line", points: points.map(function (p) { return p.join(","); }).join(" ")}));
  points.forEach(function (p) { box.appendChild(svg("circle", {"class": "dot", cx: p[0], cy: p[1], r: 1.8})); });
  var t = document.createElementNS(SVG, "title");
  t.textContent = "weekly mentions " + weeks.map(function (c) { return c[0]; }).join(", ") +
                  "; weekly net sentiment " + weeks.map(function (c) { return signed(net(c)); }).join(", ");
  box.appendChild(t);
  return box;
}
function render(fromUser) {
  var f = chosen();
  if (fromUser) {
    var hash = FILTERS.filter(function (x, i) { return f[i] >= 0; })
                      .map(function (x) { return x[0] + "=" + encodeURIComponent(x[2][parseInt($(x[1]).value, 10)]); }).join("&");
    history.replaceState(null, "", hash ? "#" + hash : location.pathname);
  }
  var mentions = 0, linked = 0;
  D.totals.forEach(function (r) { if (fits(r, f)) { mentions += r[4]; linked += r[5]; } });
  var now = D.stages.map(function () { return [0, 0, 0, 0]; });
  var weekly = D.stages.map(function () { return D.weeks.map(function () { return [0, 0, 0, 0]; }); });
  D.cells.forEach(function (r) {
    if (!fits(r, f, true)) return;
    for (var i = 0; i < 4; i++) {
      weekly[r[4]][r[3]][i] += r[5 + i];
      if (f[3] < 0 || r[3] === f[3]) now[r[4]][i] += r[5 + i];
    }
  });
  var scope = D.scopes[f.join("|")] || {};
  var period = f[3] < 0 ? D.period[0] + " to " + D.period[1] : "week of " + D.weeks[f[3]];
  var summary = $("summary");
  summary.textContent = "";
  summary.appendChild(el("b", null, mentions));
  summary.appendChild(document.createTextNode(" mentions, " + linked + " of them linked to a journey stage (a mention " +
    "linked to several stages counts once here and once in each of its stages) \u00b7 " + period + " \u00b7 generated " + D.generated));
  var hiddenPain = [0, 0], hiddenExit = [0, 0], hiddenQuotes = 0, cellsHiding = 0;
  var grid = $("stages");
  grid.textContent = "";
  grid.style.setProperty("--n", String(Math.max(D.stages.length, 1)));
  D.stages.forEach(function (stage, s) {
    var c = now[s], part = scope[String(s)] || {pain: [], exit: [], pain_hidden: [0, 0], exit_hidden: [0, 0], quotes: [], quotes_hidden: 0};
    hiddenPain[0] += part.pain_hidden[0]; hiddenPain[1] += part.pain_hidden[1];
    hiddenExit[0] += part.exit_hidden[0]; hiddenExit[1] += part.exit_hidden[1]; hiddenQuotes += part.quotes_hidden;
    if (part.pain_hidden[0] || part.exit_hidden[0] || part.quotes_hidden) cellsHiding += 1;
    var sec = el("section", "stage");
    sec.setAttribute("data-stage", stage[0]);
    sec.appendChild(el("h3", null, stage[1]));
    var vol = el("div", "volume"); vol.appendChild(el("b", null, c[0])); vol.appendChild(document.createTextNode(" mentions"));
    sec.appendChild(vol);
    var scored = c[1] + c[2] + c[3];
    if (scored) {
      var bar = el("div", "bar");
      [["pos", c[1]], ["neu", c[2]], ["neg", c[3]]].forEach(function (p) {
        var span = el("span", p[0]); span.style.width = (p[1] / scored * 100).toFixed(1) + "%"; bar.appendChild(span);
      });
      sec.appendChild(bar);
      sec.appendChild(el("div", "shares", share(c[1], scored) + "% / " + share(c[2], scored) + "% / " + share(c[3], scored) + "% pos/neu/neg"));
    } else {
      sec.appendChild(el("div", "shares", "no scored mentions"));
    }
    var n = net(c), netEl = el("div", "net", "net ");
    netEl.appendChild(el("b", n === null ? "" : (n > 0 ? "up" : (n < 0 ? "down" : "")), signed(n)));
    sec.appendChild(netEl);
    sec.appendChild(el("h4", null, "Weekly volume and net"));
    sec.appendChild(trend(weekly[s], f[3]));
    sec.appendChild(el("div", "caption", "mentions per week: " + weekly[s].map(function (w) { return w[0]; }).join(" \u00b7 ")));
    sec.appendChild(list("Top pain points", part.pain, part.pain_hidden, D.k));
    sec.appendChild(list("Exit signals", part.exit, part.exit_hidden, D.k));
    sec.appendChild(el("h4", null, "Voices"));
    part.quotes.forEach(function (q) {
      var quote = D.quotes[q], bq = el("blockquote", null, quote.text);
      if (quote.language) bq.setAttribute("lang", quote.language);
      bq.appendChild(el("footer", null, [quote.theme, quote.channel, quote.language, quote.sentiment].filter(Boolean).join(" \u00b7 ")));
      sec.appendChild(bq);
    });
    if (!part.quotes.length) sec.appendChild(el("p", "none", "none shown"));
    if (part.quotes_hidden) sec.appendChild(el("p", "hidden", part.quotes_hidden + " quotes withheld (fewer than " + D.k + " authors)"));
    grid.appendChild(sec);
  });
  $("privacy").textContent = "Privacy: pain points, exit signals and quotes are listed only when at least " + D.k +
    " distinct authors stand behind them in the view shown; counts of mentions and sentiment are always shown. " +
    (cellsHiding ? "Hidden in this view: " + hiddenPain[0] + " pain points (" + hiddenPain[1] + " mentions), " +
      hiddenExit[0] + " exit signals (" + hiddenExit[1] + " mentions) and " + hiddenQuotes + " quotes, in " +
      cellsHiding + " of " + D.stages.length + " stage cells." : "Nothing is hidden in this view.") +
    " Quotes are redacted and taken only from mentions whose primary stage is the stage shown.";
}
render(false);
})();
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def escalation_section(rows: Sequence[Mapping[str, Any]]) -> str:
    """A static table of escalations per rule, stage and pain point (counts and times only, no text).

    ``rows`` carry rule_id, stage, pain_point, escalations, sent, dead and avg_minutes_pulled_to_sent
    (``v_escalation_summary``), most escalations first; an empty list renders nothing.
    """
    if not rows:
        return ""

    def minutes(value: object) -> str:
        return "" if value is None else f"{float(value):.1f}"  # type: ignore[arg-type]

    body = "".join(
        f"<tr><td>{_e(r['rule_id'])}</td><td>{_e(r['stage'])}</td><td>{_e(r['pain_point'] or '')}</td>"
        f"<td>{int(r['escalations'])}</td><td>{int(r['sent'])}</td><td>{int(r['dead'])}</td>"
        f"<td>{minutes(r['avg_minutes_pulled_to_sent'])}</td></tr>"
        for r in rows
    )
    return ('<section class="escalations"><h2>Escalations</h2><p class="sub">Mentions routed to the support team, '
            "per rule, stage and pain point (all brands and time; time = minutes from pull to delivery).</p>"
            "<table><thead><tr><th>rule</th><th>stage</th><th>pain point</th><th>escalations</th><th>sent</th>"
            f"<th>dead</th><th>avg minutes</th></tr></thead><tbody>{body}</tbody></table></section>")


def render_cx_map(data: dict[str, Any], *, out_path: Path | str) -> Path:
    """Write the map (``build_cx_map``'s data) as one offline HTML file; return its path.

    The data travel as JSON inside the page (``<`` escaped, so no text can close the script block);
    the inline script draws the filters, the summary, the privacy note and one column per stage.
    """
    out_path = Path(out_path)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(data['title'])}</title><style>{_CSS % {'fonts': FONT_STACK}}</style></head><body>"
        f"<h1>{_e(data['title'])}</h1>"
        '<form class="filters" onsubmit="return false">'
        '<label>Brand<select id="f-brand"></select></label>'
        '<label>Language<select id="f-language"></select></label>'
        '<label>Channel<select id="f-channel"></select></label>'
        '<label>Period<select id="f-period"></select></label></form>'
        '<p id="summary" class="sub"></p><p id="privacy" class="privacy"></p>'
        '<div id="stages" class="stages"></div>'
        f"{escalation_section(data.get('escalations', []))}"
        "<noscript>This map draws itself with JavaScript, inside this file and offline; allow scripts for this file.</noscript>"
        f'<script type="application/json" id="cx-data">{payload}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    log.info("wrote CX map with %d stages and %d brands to %s", len(data["stages"]), len(data["brands"]), out_path)
    return out_path
