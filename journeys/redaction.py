"""Redaction of personal data in mention text before it is shown or exported.

``redact`` replaces emails, phone numbers, handles, order/account numbers, card numbers,
tokenised links, street addresses and people's names with typed placeholders such as ``[EMAIL]``;
it never touches prices, dates, product names or hashtags, and redacting twice changes nothing.
Phones, addresses and names live in ``redaction_phones``, ``redaction_places``, ``redaction_names``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from journeys.redaction_names import name_spans
from journeys.redaction_phones import phone_spans
from journeys.redaction_places import address_spans

__all__ = ["KINDS", "Redacted", "Span", "find_spans", "redact"]

KINDS = ("EMAIL", "PHONE", "HANDLE", "ORDER", "ACCOUNT", "URL", "NAME", "CARD", "ADDRESS")
"""Placeholder kinds, written into the text as ``[KIND]``."""


@dataclass(frozen=True)
class Redacted:
    """Redacted text and how many spans of each kind were replaced."""

    text: str
    counts_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts_by_kind.values())


# Arabic-Indic, Eastern Arabic-Indic and Thai digits map one-to-one onto ASCII digits, so the
# patterns run on a "shadow" copy of the text with identical character positions.
_DIGITS = {ord(c): str(i) for block in ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "๐๑๒๓๔๕๖๗๘๙") for i, c in enumerate(block)}

_Span = tuple[int, int, str, str]  # start, end, kind, replacement
Span = tuple[int, int, str]
"""``(start, end, kind)`` of one piece of personal data in the original text."""
_Detector = Callable[[str], Iterator[_Span]]

# ------------------------------------------------------------------------------ links, emails, handles
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'\]\[]+", re.IGNORECASE)
_TOKEN_SEGMENT = re.compile(r"[0-9]{6,}|(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_\-=.]{16,}")
_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_HANDLE = re.compile(r"(?<![\w@./])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?")


def _urls(text: str) -> Iterator[_Span]:
    for match in _URL.finditer(text):
        raw = match.group().rstrip(".,;:!?)")
        parts = urlsplit(raw if "://" in raw else f"https://{raw}")
        host = parts.hostname or ""
        segments = [s for s in parts.path.split("/") if s]
        tokenised = any(_TOKEN_SEGMENT.search(s) for s in segments)
        sensitive = bool(parts.query or parts.fragment or parts.username or tokenised)
        if sensitive and host:
            prefix = raw[: raw.index("://") + 3] if "://" in raw else ""
            yield match.start(), match.start() + len(raw), "URL", f"{prefix}{host}/[URL]"


def _emails(text: str) -> Iterator[_Span]:
    for match in _EMAIL.finditer(text):
        yield match.start(), match.end(), "EMAIL", "[EMAIL]"


def _handles(text: str) -> Iterator[_Span]:
    for match in _HANDLE.finditer(text):
        yield match.start(), match.end(), "HANDLE", "[HANDLE]"


# ------------------------------------------------------------------------------ order and account numbers
_ID = r"#?\s?([A-Za-z]{0,5}[-/]?[0-9][A-Za-z0-9-]{3,})"
_NUMBER_WORDS = r"(?:no\.?|nr\.?|number|num\.?|id|#|số|mã|nº|n°|n\.º|núm(?:ero)?\.?|nomor|หมายเลข|เลขที่|رقم|de|do|del)"
_GAP = rf"[\s:#]*(?:{_NUMBER_WORDS}[\s:#.]*){{0,2}}"
_ORDER_WORDS = (
    r"order|orders|ord|ticket|case|tracking|mã đơn hàng|đơn hàng|mã đơn|đơn|mã vận đơn|vận đơn|pedido|encomenda|"
    r"rastreio|guía|seguimiento|คำสั่งซื้อ|ออเดอร์|เลขพัสดุ|pesanan|resi|الطلب|طلب"
)
_ACCOUNT_WORDS = (
    r"account|acct|a/c|customer id|member id|số tài khoản|tài khoản|stk|mã khách hàng|เลขบัญชี|บัญชี|cuenta|conta|"
    r"akun|rekening|no\.? rek|الحساب|حساب"
)
_KEYWORD_ID = [
    (kind, re.compile(rf"(?<![A-Za-z])(?:{words})(?![A-Za-z]){_GAP}{_ID}", re.IGNORECASE))
    for kind, words in (("ORDER", _ORDER_WORDS), ("ACCOUNT", _ACCOUNT_WORDS))
]
_BARE_ORDER = re.compile(r"(?<![A-Za-z0-9-])[A-Z]{2,5}-[0-9]{6,}(?![A-Za-z0-9])")


def _keyword_ids(text: str) -> Iterator[_Span]:
    for kind, pattern in _KEYWORD_ID:
        for match in pattern.finditer(text):
            ident = match.group(1)
            if sum(c.isdigit() for c in ident) >= 4:
                yield match.start(1), match.end(1), kind, f"[{kind}]"


def _bare_orders(text: str) -> Iterator[_Span]:
    for match in _BARE_ORDER.finditer(text):
        yield match.start(), match.end(), "ORDER", "[ORDER]"


# ------------------------------------------------------------------------------ cards and phones
# Card numbers are written unbroken, in groups of four, or 4-6-5 (Amex); never after a "+".
_CARD = re.compile(
    r"(?<![0-9+])(?:[0-9]{13,19}|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,7}|[0-9]{4}([ -])[0-9]{6}\2[0-9]{5})"
    r"(?![0-9])"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterator[_Span]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"[^0-9]", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_ok(digits):
            yield match.start(), match.end(), "CARD", "[CARD]"


def _phones(language: str | None) -> _Detector:
    def phones(text: str) -> Iterator[_Span]:
        for start, end in phone_spans(text, language):
            yield start, end, "PHONE", "[PHONE]"

    return phones


def _addresses(text: str) -> Iterator[_Span]:
    for start, end in address_spans(text):
        yield start, end, "ADDRESS", "[ADDRESS]"


def _names(text: str) -> Iterator[_Span]:
    for start, end in name_spans(text):
        yield start, end, "NAME", "[NAME]"


# ------------------------------------------------------------------------------ the entry point
def _keeping(detector: _Detector, keep: frozenset[str]) -> _Detector:
    def kept(text: str) -> Iterator[_Span]:
        for span in detector(text):
            if text[span[0] : span[1]].lstrip("@").casefold() not in keep:
                yield span

    return kept


def _detectors(language: str | None, keep: frozenset[str]) -> list[_Detector]:
    # Earlier detectors win overlaps: a handle's domain is not an email, an order number is not a phone,
    # and a "+cc" phone number is never a card.
    return [_urls, _keeping(_handles, keep), _emails, _keyword_ids, _cards, _phones(language), _bare_orders,
            _keeping(_addresses, keep), _keeping(_names, keep)]


def _taken(text: str, language: str | None, keep: Iterable[str]) -> list[_Span]:
    shadow = text.translate(_DIGITS)
    keep_folded = frozenset(k.lstrip("@").casefold() for k in keep)
    taken: list[_Span] = []
    for detector in _detectors(language, keep_folded):
        for span in detector(shadow):
            if not any(span[0] < end and start < span[1] for start, end, _, _ in taken):
                taken.append(span)
    return sorted(taken)


def find_spans(text: str, *, language: str | None = None, keep: Iterable[str] = ()) -> list[Span]:
    """Where ``redact`` would replace personal data, as sorted ``(start, end, kind)``."""
    return [(start, end, kind) for start, end, kind, _ in _taken(text, language, keep)]


def redact(text: str, *, language: str | None = None, keep: Iterable[str] = (), allow: Iterable[str] = ()) -> Redacted:
    """Replace personal data in ``text`` with ``[KIND]`` placeholders.

    ``language`` (ISO 639-1, e.g. ``"vi"``) narrows national phone formats to that language's
    regions (see ``REGIONS_BY_LANGUAGE`` in ``journeys.redaction_phones``) plus US and UK; ``None``
    or another language tries every region. ``keep`` lists brand terms never redacted as names,
    addresses or handles (e.g. the brand's ``terms()``, which include its support handle such as
    ``@SoramiCare``). International ``+cc`` numbers, emails, links, handles, cards, order numbers,
    street addresses and names after a title are always redacted; business lines (toll-free,
    shared-cost) are not personal data and stay. ``allow`` names kinds left in the text (e.g.
    ``{"EMAIL", "PHONE"}`` for a ticket system that needs the customer's contact details); they are
    still found first, so they never turn into a neighbouring kind.
    """
    allowed = frozenset(allow)
    unknown = sorted(allowed - set(KINDS))
    if unknown:
        raise ValueError(f"redaction kinds {unknown} are not among {list(KINDS)}")
    taken = [span for span in _taken(text, language, keep) if span[2] not in allowed]
    out, pos = [], 0
    for start, end, _, replacement in taken:
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return Redacted(text="".join(out), counts_by_kind=dict(Counter(kind for _, _, kind, _ in taken)))
