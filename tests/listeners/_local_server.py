"""A real HTTP server on 127.0.0.1 for listener tests, able to cut a response mid-body.

``LocalServer(app)`` runs ``app(method, path, query, headers) -> Reply`` on a thread. A reply with
``cut_after`` sends that many bytes of its body as one HTTP/1.1 chunk of the announced full
length, then closes the socket: the client sees a connection dropped mid-body (requests raises
ChunkedEncodingError, httpx RemoteProtocolError), exactly as when a proxy or the service drops it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    cut_after: int | None = None

    @classmethod
    def json(cls, payload: object, status: int = 200, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json", **headers})


App = Callable[[str, str, dict[str, str], dict[str, str]], Reply]


class LocalServer:
    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                return None

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append((self.command, parts.path, query))
                reply = server.app(self.command, parts.path, query, dict(self.headers.items()))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.cut_after is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(f"{len(reply.body):x}\r\n".encode() + reply.body[: reply.cut_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-body
                self.close_connection = True

            do_GET = _serve
            do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
