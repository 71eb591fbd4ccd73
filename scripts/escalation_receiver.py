"""A local webhook receiver for trying escalation on the sample: prints each JSON body it is sent.

    python scripts/escalation_receiver.py [--port 8765]

then set ``escalation.enabled: true`` in the config and run ``journeypulse run``. Answers 200 to every POST.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            print(json.dumps(json.loads(body), ensure_ascii=False, indent=2), flush=True)
        except ValueError:
            print(f"(not JSON: {len(body)} bytes)", flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *_: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    print(f"listening on http://127.0.0.1:{args.port}/escalations", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
