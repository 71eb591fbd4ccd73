"""Logging set-up shared by the CLI and the DAG task runner: level, text or JSON lines, quiet payload loggers.

Invariant: client libraries that print request/response payloads at DEBUG (tweepy: user names, author
ids, post text; praw/prawcore, urllib3, httpx, httpcore, Mastodon.py, google-play-scraper) never log
below INFO, whatever level the project runs at, so ``-vv`` cannot leak handles or texts into logs.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

PAYLOAD_LOGGERS = (
    "tweepy", "praw", "prawcore", "urllib3", "requests", "requests_oauthlib", "oauthlib", "httpx", "httpcore",
    "mastodon", "google_play_scraper", "feedparser", "atproto",
)
"""Third-party loggers that print payloads (and so identities) at DEBUG."""

LogFormat = Literal["text", "json"]
_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _ProjectHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (a test runner may swap it), and
    marks the handler this module installed, so a second call replaces it instead of adding one."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def quiet_payload_loggers(level: int) -> None:
    """Keep every ``PAYLOAD_LOGGERS`` logger at INFO or above (and at ``level`` when that is higher)."""
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))


def level_for(verbose: int, quiet: bool) -> int:
    """WARNING by default; ``-v`` INFO, ``-vv`` DEBUG; ``-q`` ERROR."""
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def configure_logging(level: int = logging.WARNING, log_format: LogFormat = "text") -> None:
    """Root level and one stderr handler (text or JSON lines); payload loggers stay at INFO or above."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ProjectHandler)]:
        root.removeHandler(handler)
    handler = _ProjectHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    quiet_payload_loggers(level)


def reset_logging() -> None:
    """Remove the handler ``configure_logging`` installed (tests; a command that hands back the terminal)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ProjectHandler)]:
        root.removeHandler(handler)
