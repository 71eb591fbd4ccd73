"""Services written from the public API documentation, served by ``_local_server.LocalServer``.

* ``XRecentSearch``: GET /2/tweets/search/recent (newest first, ``since_id``/``until_id``
  exclusive, ``max_results``, ``meta.next_token``) and GET /2/users/by/username/:name, with a
  bearer token check (401 with the v2 problem shape for any other token).
* ``Feed``: an RSS 2.0 document at /feed.xml.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime

from _local_server import Reply

SNOWFLAKE_EPOCH_MS = 1288834974657
TOKEN = "x-bearer-token-for-tests-0123456789"


def snowflake(ts: float, sequence: int = 0) -> int:
    return ((int(ts * 1000) - SNOWFLAKE_EPOCH_MS) << 22) + sequence


def x_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class XRecentSearch:
    """Posts keyed by snowflake id; ``cut_offsets`` are page offsets whose answer drops mid-body."""

    def __init__(self) -> None:
        self.posts: dict[int, float] = {}  # id -> created (epoch seconds)
        self.cut_offsets: set[int] = set()
        self.token = TOKEN
        self._sequence = 0

    def add(self, count: int, *, start: float, step: float = 1.0) -> list[int]:
        """``count`` posts created ``step`` seconds apart from ``start`` (late posts: a ``start`` in the past)."""
        ids = []
        for i in range(count):
            self._sequence += 1
            created = start + i * step
            post_id = snowflake(created, self._sequence)
            self.posts[post_id] = created
            ids.append(post_id)
        return ids

    def __call__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return Reply.json({"title": "Unauthorized", "type": "about:blank", "status": 401,
                               "detail": "Unauthorized"}, status=401)
        if path.startswith("/2/users/by/username/"):
            return Reply.json({"data": {"id": "2244994945", "name": "Developers", "username": path.rsplit("/", 1)[1]}})
        if path != "/2/tweets/search/recent":
            return Reply.json({"title": "Not Found Error"}, status=404)
        since, until = int(query.get("since_id", 0)), int(query.get("until_id", 10**30))
        window = sorted((i for i in self.posts if since < i < until), reverse=True)
        offset, size = int(query.get("next_token", "0")), int(query["max_results"])
        page = window[offset : offset + size]
        body: dict[str, object] = {"meta": {"result_count": len(page)}}
        if page:
            body["data"] = [{"id": str(i), "edit_history_tweet_ids": [str(i)], "author_id": "42", "lang": "en",
                             "created_at": x_iso(self.posts[i]), "text": f"Nimbus &amp; friends post {i}"}
                            for i in page]
            body["includes"] = {"users": [{"id": "42", "username": "someone_real", "verified": False}]}
            body["meta"] = {"result_count": len(page), "newest_id": str(page[0]), "oldest_id": str(page[-1])}
        if offset + size < len(window):
            body["meta"]["next_token"] = str(offset + size)  # type: ignore[index]
        reply = Reply.json(body)
        if offset in self.cut_offsets:
            reply.cut_after = len(reply.body) // 2
        return reply


class Feed:
    """An RSS 2.0 feed of brand news; ``entries`` maps guid -> published (epoch seconds)."""

    def __init__(self) -> None:
        self.entries: dict[str, float] = {}

    def __call__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        items = "".join(
            f"<item><title>Nimbus news {guid}</title><guid isPermaLink=\"false\">{guid}</guid>"
            f"<link>https://news.example.com/{guid}</link>"
            f"<pubDate>{format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)}</pubDate>"
            f"<description>About Nimbus Pay</description></item>"
            for guid, ts in sorted(self.entries.items(), key=lambda kv: -kv[1])
        )
        xml = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
               f"<link>https://news.example.com/</link><language>en</language>{items}</channel></rss>")
        return Reply(200, xml.encode("utf-8"), {"Content-Type": "application/rss+xml; charset=utf-8"})


def now() -> float:
    return time.time()
