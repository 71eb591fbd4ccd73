"""File cursors: lines read, byte offset and a fingerprint of the bytes before the offset.

Offsets count the bytes the listener reads: the file's own bytes, or for a compressed file the
decompressed bytes, or for a UTF-16/UTF-32 file its text re-encoded as UTF-8. The fingerprint
hashes the first 64 KiB and the 4 KiB just before the offset, so a rewritten file is detected.
"""

from __future__ import annotations

import hashlib
from typing import IO

from journeypulse.errors import ListenerError
from journeypulse.record import Cursor

HEAD_BYTES = 65_536  # the cursor fingerprints the file's first bytes ...
TAIL_BYTES = 4_096  # ... and the bytes just before the offset, so rewrites are detected


class Fingerprint:
    """Hash of a file's first bytes and of the bytes before the current offset."""

    def __init__(self, head: bytes = b"", tail: bytes = b"") -> None:
        self._head = hashlib.sha256(head)
        self._head_len = len(head)
        self._tail = bytearray(tail[-TAIL_BYTES:])

    def feed(self, data: bytes) -> None:
        if self._head_len < HEAD_BYTES:
            part = data[: HEAD_BYTES - self._head_len]
            self._head.update(part)
            self._head_len += len(part)
        self._tail += data
        del self._tail[:-TAIL_BYTES]

    def digest(self) -> str:
        return hashlib.sha256(self._head.digest() + bytes(self._tail)).hexdigest()[:24]

    @classmethod
    def of_file(cls, handle: IO[bytes], offset: int) -> Fingerprint:
        """The fingerprint at ``offset`` of a seekable file (its position is left anywhere)."""
        handle.seek(0)
        head = handle.read(min(offset, HEAD_BYTES))
        handle.seek(max(0, offset - TAIL_BYTES))
        return cls(head, handle.read(offset - max(0, offset - TAIL_BYTES)))


def encode_cursor(line: int, offset: int, fingerprint: str) -> Cursor:
    """``v1|<lines read>|<byte offset>|<fingerprint of the bytes read>``."""
    return f"v1|{line}|{offset}|{fingerprint}"


def decode_cursor(cursor: Cursor) -> tuple[int, int, str]:
    parts = cursor.split("|")
    if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit() or not parts[2].isdigit():
        raise ListenerError(f"file cursor {cursor!r} is not a v1 file cursor; delete the stored cursor to re-read")
    return int(parts[1]), int(parts[2]), parts[3]
