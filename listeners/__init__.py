"""Listeners: turn configured sources into mention records. They never write to storage."""

from listeners.base import BrandMatcher, Item, Listener, ListenerContext, MatchResult, guarded
from listeners.registry import LISTENER_KINDS, build_listener

__all__ = [
    "LISTENER_KINDS",
    "BrandMatcher",
    "Item",
    "Listener",
    "ListenerContext",
    "MatchResult",
    "build_listener",
    "guarded",
]
