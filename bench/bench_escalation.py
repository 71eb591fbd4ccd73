"""Pull -> delivered escalation on the bundled sample: the example config with escalation on, the default
model and journey heads, SQLite in a temporary folder, a local HTTP server as the webhook. A benchmark,
not a test.

Usage: JOURNEYPULSE_WEBHOOK_KEY=<32+ chars> python bench/bench_escalation.py [--out PAYLOADS.json]
Prints the time of each step, what escalate did, and min/median/max seconds from the pull that stored
a mention to its delivery (``v_escalations.minutes_pulled_to_sent``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from pipeline import escalate, steps

REPO = Path(__file__).resolve().parents[1]


def _receiver(received: list[dict[str, Any]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the received payloads here (JSON)")
    args = parser.parse_args()
    received: list[dict[str, Any]] = []
    server = _receiver(received)
    with tempfile.TemporaryDirectory() as tmp:
        config = yaml.safe_load((REPO / "examples" / "config.example.yaml").read_text(encoding="utf-8"))
        config["data_dir"] = str(Path(tmp) / "data")
        config["sources"][0]["params"]["path"] = str(REPO / "examples" / "sample_mentions.jsonl")
        config["escalation"]["enabled"] = True
        config["escalation"]["destinations"]["local-webhook"]["url"] = (
            f"http://127.0.0.1:{server.server_address[1]}/escalations")
        path = Path(tmp) / "journeypulse.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        settings = steps.load_run_settings(path)
        with steps.open_store(settings) as store:
            timings: dict[str, float] = {}
            start = time.perf_counter()
            steps.pull(settings, store)
            timings["pull"] = time.perf_counter() - start
            for name, step in (("languages", steps.identify_languages), ("enrich", steps.enrich)):
                start = time.perf_counter()
                step(settings, store)
                timings[name] = time.perf_counter() - start
            start = time.perf_counter()
            report = escalate.escalate(settings, store)
            timings["escalate"] = time.perf_counter() - start
            columns, rows = store.query_view("v_escalations", filters={}, limit=None)
    server.shutdown()
    minutes = [dict(zip(columns, row, strict=True))["minutes_pulled_to_sent"] for row in rows]
    seconds = sorted(float(m) * 60 for m in minutes if isinstance(m, (int, float)))
    print("step seconds:", {k: round(v, 2) for k, v in timings.items()})
    print("escalate:", report.detail)
    if seconds:
        print(f"pulled -> delivered seconds: min {seconds[0]:.1f}, median {statistics.median(seconds):.1f}, "
              f"max {seconds[-1]:.1f} over {len(seconds)} deliveries; {len(received)} payloads received")
    if args.out:
        args.out.write_text(json.dumps(received, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
