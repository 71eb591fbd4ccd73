"""File listener (``kind: file``): JSONL and CSV exports, split by responsibility.

- ``params``: the source's ``params`` and their validation
- ``reading``: opening a file: compression and encoding detected from its bytes
- ``cursor``: byte-offset cursors with a fingerprint that detects rewritten files
- ``records``: lines -> records (CSV quoting, runaway quotes, unterminated last lines)
- ``rows``: one row -> a Mention or the reason it is quarantined
- ``listener``: ``FileListener``, the Listener protocol over all of these
"""

from listeners.files.cursor import decode_cursor, encode_cursor
from listeners.files.listener import MAX_PAYLOAD_CHARS, FileListener
from listeners.files.params import FileParams
from listeners.files.rows import RowRejected, clean_text

__all__ = ["MAX_PAYLOAD_CHARS", "FileListener", "FileParams", "RowRejected", "clean_text", "decode_cursor",
           "encode_cursor"]
