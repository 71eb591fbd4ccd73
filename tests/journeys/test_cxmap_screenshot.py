"""The CX map opens offline in a real headless Chromium: it draws every stage, filters, no JS errors, and Thai renders.

Needs Debian's chromium and Thai fonts (`scripts/install-system-deps`: chromium, fonts-thai-tlwg,
fonts-noto-core). Skipped with a reason when chromium is absent outside CI; fails when CI=true, so the
check cannot quietly disappear there.
"""

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from test_cxmap import STAGES, build

from journeys.cxmap import FONT_STACK, render_cx_map

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

if CHROMIUM is None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is not installed but CI=true: run scripts/install-system-deps", pytrace=False)
    pytestmark = pytest.mark.skip(reason="chromium not installed (scripts/install-system-deps)")

_JS_ERROR = re.compile(r"ERROR:CONSOLE|:CONSOLE.*(Uncaught|Error)")
THAI = "ยกเลิกคืนเงินส่งช้ามาก"
VIETNAMESE = "Giao hàng chậm quá, đợi 5 ngày rồi"
TOFU = "\ue000"  # a private-use code point: no font has it, so it is drawn as the missing-glyph box


def _chromium(page: Path, profile: Path, *extra: str, env: dict[str, str] | None = None,
              url_suffix: str = "") -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1600,1000", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", *extra, page.as_uri() + url_suffix,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cxmap")
    return render_cx_map(build(), out_path=folder / "map.html"), folder


def test_headless_chromium_screenshots_the_map_at_full_size(rendered):
    page, folder = rendered
    png = folder / "map.png"
    run = _chromium(page, folder / "profile-shot", f"--screenshot={png}")
    assert run.returncode == 0, run.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1600, 1000)
    assert len(data) > 40_000, "screenshot is nearly empty"
    if target := os.environ.get("JOURNEYPULSE_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / "cxmap.png")


def test_the_rendered_dom_has_every_stage_the_filters_the_privacy_note_and_no_console_errors(rendered):
    page, folder = rendered
    run = _chromium(page, folder / "profile-dom", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    for stage, label in STAGES:
        assert f'data-stage="{stage}"><h3>{label}</h3>' in dom
    assert "<b>20</b> mentions, 19 of them linked to a journey stage" in dom
    assert "Hidden in this view: 1 pain points (3 mentions), 0 exit signals (0 mentions)" in dom
    assert dom.count('<svg class="trend"') == len(STAGES)
    assert "Order late again, day 0, call me [PHONE]" in dom and "0912 345 678" not in dom
    errors = [line for line in run.stderr.splitlines() if _JS_ERROR.search(line)]
    assert errors == []


def test_a_filter_in_the_address_narrows_the_counts_and_the_voices(rendered):
    page, folder = rendered
    run = _chromium(page, folder / "profile-thai", "--dump-dom", url_suffix="#language=th")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "<b>5</b> mentions, 5 of them linked" in run.stdout
    drawn = run.stdout.split('id="stages"', 1)[1].split('<script type="application/json"', 1)[0]  # not the data
    assert '<blockquote lang="th">จะยกเลิกแล้ว ส่งช้ามาก' in drawn and "Order late again" not in drawn


def _glyph_check(folder: Path, name: str, env: dict[str, str] | None = None) -> dict[str, bool]:
    """Per character of THAI and VIETNAMESE: drawn in the map's font stack, does it differ from the box glyph?"""
    probe = folder / f"{name}.html"
    probe.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><script>
const font = "32px " + {json.dumps(FONT_STACK)};
function draw(s) {{
  const c = document.createElement("canvas"); c.width = 64; c.height = 64;
  const g = c.getContext("2d"); g.font = font; g.fillStyle = "#000"; g.textBaseline = "top"; g.fillText(s, 16, 8);
  return Array.from(g.getImageData(0, 0, 64, 64).data).join(",");
}}
const box = draw({json.dumps(TOFU)}), blank = draw("");
const seen = {{}};
for (const ch of {json.dumps(THAI + VIETNAMESE.replace(" ", ""))}) {{ const d = draw(ch); seen[ch] = d !== box && d !== blank; }}
document.body.setAttribute("data-glyphs", JSON.stringify(seen));
</script></body></html>""", encoding="utf-8")
    run = _chromium(probe, folder / f"profile-{name}", "--dump-dom", env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    match = re.search(r"data-glyphs=\"([^\"]*)\"", run.stdout)
    assert match, run.stdout[-2000:]
    return dict(json.loads(match.group(1).replace("&quot;", '"')))


def test_thai_and_vietnamese_render_as_glyphs_not_tofu_boxes(tmp_path: Path):
    seen = _glyph_check(tmp_path, "fonts")
    boxes = sorted(ch for ch, drawn in seen.items() if not drawn)
    assert seen and not boxes, f"drawn as the missing-glyph box: {boxes} (install fonts-thai-tlwg / fonts-noto-core)"


def test_the_tofu_check_sees_boxes_when_no_thai_font_is_available(tmp_path: Path):
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if not dejavu.is_dir():
        pytest.skip("the control needs the DejaVu fonts, which have no Thai")
    config = tmp_path / "fonts.conf"
    config.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                      f"<dir>{dejavu}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    seen = _glyph_check(tmp_path, "dejavu-only", env={"FONTCONFIG_FILE": str(config)})
    assert not any(seen[ch] for ch in "ยกเลิก"), "with only DejaVu the Thai letters must come out as boxes"
    assert all(seen[ch] for ch in "Giaohàng"), "Latin and Vietnamese letters are in DejaVu"
