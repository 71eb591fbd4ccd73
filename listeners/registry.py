"""Maps a source ``kind`` to its listener class, imported lazily.

Lazy so that a deployment without, say, tweepy installed can still run its other sources,
and so DAG parsing never imports client libraries.
"""

from __future__ import annotations

import importlib

from journeypulse.config import SourceConfig
from journeypulse.errors import ConfigError
from listeners.base import Listener, ListenerContext

LISTENER_KINDS: dict[str, str] = {
    "file": "listeners.files:FileListener",
    "x": "listeners.x:XListener",
    "reddit": "listeners.reddit:RedditListener",
    "mastodon": "listeners.mastodon:MastodonListener",
    "bluesky": "listeners.bluesky:BlueskyListener",
    "youtube": "listeners.youtube:YouTubeListener",
    "google_play": "listeners.google_play:GooglePlayListener",
    "app_store": "listeners.app_store:AppStoreListener",
    "rss": "listeners.rss:RssListener",
}


def build_listener(source: SourceConfig, context: ListenerContext) -> Listener:
    """Construct the listener for ``source`` (no I/O happens here)."""
    target = LISTENER_KINDS.get(source.kind)
    if target is None:
        raise ConfigError(
            f"source {source.name!r}: unknown kind {source.kind!r} (known: {', '.join(sorted(LISTENER_KINDS))})"
        )
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"source {source.name!r}: listener for kind {source.kind!r} cannot be imported: {exc}") from exc
    listener: Listener = getattr(module, class_name)(source, context)
    return listener
