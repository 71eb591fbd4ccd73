"""Opening an export: compression and text encoding are detected from the bytes, not the file name.

- gzip, bzip2 and xz files are decompressed as they are read, whatever their name; zip and zstd
  archives are refused with the fix.
- A byte-order mark decides the encoding: UTF-8 (the mark is skipped), UTF-16 and UTF-32 (the text is
  re-encoded as UTF-8 while reading). Without one, ``params.encoding`` applies; a file that looks like
  UTF-16 or UTF-32 without a mark is refused with the setting that reads it, rather than read as garbage.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import logging
import lzma
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from listeners.files.cursor import Fingerprint

logger = logging.getLogger(__name__)

_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_ARCHIVES = {b"PK\x03\x04": "a zip archive", b"\x28\xb5\x2f\xfd": "zstd-compressed"}
# Longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SNIFF_BYTES = 4_096
_CHUNK_CHARS = 65_536


class UnreadableExport(ValueError):
    """The whole file cannot be read as configured; the message names the problem and the fix."""


@dataclass(frozen=True)
class Layout:
    """How a file's bytes become lines: ``compression`` (None, gzip, bzip2, xz) and the text encoding.

    ``transcoded``: the encoding is not line-based (UTF-16/32), so lines are read as text and
    re-encoded as UTF-8; ``line_encoding`` is the codec that decodes each line the listener sees.
    """

    compression: str | None
    encoding: str
    transcoded: bool

    @property
    def line_encoding(self) -> str:
        return "utf-8" if self.transcoded else self.encoding

    @property
    def seekable(self) -> bool:
        return self.compression is None and not self.transcoded


def _line_based(encoding: str) -> bool:
    return "\n".encode(encoding) == b"\n"


def _open_bytes(path: Path, compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary file object
    if compression == "bzip2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return path.open("rb")


def _looks_wide(sample: bytes) -> str | None:
    """``utf-16-le`` etc. when the zero bytes fall where UTF-16/32 puts them for ASCII text."""
    n = len(sample) // 4 * 4
    if n < 8 or b"\x00" not in sample:
        return None
    zeros = [sample[k:n:4].count(0) for k in range(4)]
    quarter = n // 4
    if min(zeros[1:]) > 0.6 * quarter and zeros[0] < 0.1 * quarter:
        return "utf-32-le"
    if min(zeros[:3]) > 0.6 * quarter and zeros[3] < 0.1 * quarter:
        return "utf-32-be"
    even, odd, half = zeros[0] + zeros[2], zeros[1] + zeros[3], n // 2
    if odd > 0.15 * half and even <= 0.01 * half:
        return "utf-16-le"
    if even > 0.15 * half and odd <= 0.01 * half:
        return "utf-16-be"
    return None


def _read_head(handle: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes; a compressed stream that ends early gives what it has."""
    data = b""
    try:
        while len(data) < size and (chunk := handle.read(size - len(data))):
            data += chunk
    except EOFError:
        pass
    return data


def sniff(path: Path, configured: str) -> Layout:
    """The layout of ``path`` read with ``configured`` as the encoding of files without a byte-order mark."""
    with path.open("rb") as handle:
        magic = handle.read(8)
    for mark, what in _ARCHIVES.items():
        if magic.startswith(mark):
            raise UnreadableExport(f"is {what}; extract the export (gzip, bzip2 and xz files are read as they are)")
    compression = next((name for mark, name in _COMPRESSED.items() if magic.startswith(mark)), None)
    try:
        with _open_bytes(path, compression) as handle:
            head = _read_head(handle, _SNIFF_BYTES)
    except (OSError, zlib.error, lzma.LZMAError) as exc:
        raise UnreadableExport(f"looks {compression}-compressed but cannot be decompressed ({exc})") from exc
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return Layout(compression, encoding, transcoded=not _line_based(encoding))
    if not _line_based(configured):
        return Layout(compression, configured, transcoded=True)
    wide = _looks_wide(head)
    if wide is not None:
        raise UnreadableExport(f"looks like {wide.upper()} without a byte-order mark, not {configured}; "
                               f"set params.encoding: {wide} or convert the export to UTF-8")
    return Layout(compression, configured, transcoded=False)


class ExportFile:
    """One pass over an export's lines (bytes, each ending in b"\\n" except maybe the last).

    ``open_at`` positions the pass at a cursor and returns the fingerprint of the bytes before it;
    ``lines`` then yields the rest, feeding each line into that fingerprint. ``ended_early`` is set
    when a compressed stream stops before its end marker (a file still being written).
    """

    def __init__(self, path: Path, layout: Layout) -> None:
        self.path = path
        self.layout = layout
        self.ended_early = False
        self._handle = _open_bytes(path, layout.compression)
        self._lines = self._raw_lines()
        self._fingerprint = Fingerprint()

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._lines.close()
        self._handle.close()

    def _raw_lines(self) -> Generator[bytes, None, None]:
        try:
            if self.layout.transcoded:  # lines split on "\n" only, as in the byte path
                text = io.TextIOWrapper(self._handle, encoding=self.layout.encoding, errors="strict", newline="")
                pending = b""
                while chunk := text.read(_CHUNK_CHARS):
                    *complete, pending = (pending + chunk.encode("utf-8")).split(b"\n")
                    for line in complete:
                        yield line + b"\n"
                if pending:
                    yield pending
            else:
                yield from self._handle
        except EOFError:
            self.ended_early = True
        except UnicodeDecodeError as exc:
            raise UnreadableExport(f"holds invalid {self.layout.encoding} ({exc.reason}); fix or re-export "
                                   "the file") from exc
        except (OSError, zlib.error, lzma.LZMAError) as exc:
            raise UnreadableExport(f"cannot be decompressed past this point ({exc})") from exc

    def open_at(self, offset: int, expected: str | None) -> Fingerprint | None:
        """Position at ``offset`` and return the fingerprint there; None (positioned at 0) when the bytes
        before ``offset`` no longer hash to ``expected`` (the file was rewritten or is shorter)."""
        if offset == 0:
            return self._fingerprint
        if self.layout.seekable:
            size = self._handle.seek(0, io.SEEK_END)
            if offset <= size:
                fingerprint = Fingerprint.of_file(self._handle, offset)
                if expected is None or fingerprint.digest() == expected:
                    self._handle.seek(offset)
                    self._fingerprint = fingerprint
                    return fingerprint
            self._handle.seek(0)
            return None
        fingerprint, position = Fingerprint(), 0
        for raw in self._lines:
            fingerprint.feed(raw)
            position += len(raw)
            if position >= offset:
                break
        if position == offset and (expected is None or fingerprint.digest() == expected):
            self._fingerprint = fingerprint
            return fingerprint
        self._lines.close()
        self._handle.close()
        self._handle = _open_bytes(self.path, self.layout.compression)
        self._lines = self._raw_lines()
        return None

    def lines(self) -> Iterator[bytes]:
        for raw in self._lines:
            self._fingerprint.feed(raw)
            yield raw

    def digest(self) -> str:
        return self._fingerprint.digest()

