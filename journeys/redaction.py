"""Redaction of personal data in mention text before it is shown or exported.

``redact`` replaces emails, phone numbers, handles, order/account numbers, card numbers,
tokenised links and introduced names with typed placeholders such as ``[EMAIL]``; it never
touches prices, dates, product names or hashtags, and redacting twice changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["KINDS", "Redacted", "redact"]

KINDS = ("EMAIL", "PHONE", "HANDLE", "ORDER", "ACCOUNT", "URL", "NAME", "CARD")
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
_Detector = Callable[[str], Iterator[_Span]]

# ------------------------------------------------------------------------------ links, emails, handles
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'\]\[]+", re.IGNORECASE)
_TOKEN_SEGMENT = re.compile(r"[0-9]{6,}|(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_\-=.]{16,}")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
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


_S = r"[ .\-]?"  # one optional separator between digits
_INTERNATIONAL = rf"(?:\+|00)[1-9][0-9]{{0,2}}(?:[ .\-]?\(0?[0-9]{{1,4}}\))?(?:{_S}[0-9]){{6,13}}"
_LOCAL_PHONES = {
    # trunk prefix 0: Vietnam 0xx/02x, Thailand 0x-xxx-xxxx, Indonesia 08xx, UK 07xxx, Saudi 05x, Egypt 01x
    "trunk0": rf"0[1-9](?:{_S}[0-9]){{7,11}}",
    "br": r"\([1-9][0-9]\) ?9?[0-9]{4}-?[0-9]{4}|[1-9][0-9] 9[0-9]{4}-[0-9]{4}",
    "es": r"[6-9][0-9]{2}(?: [0-9]{3} [0-9]{3}| [0-9]{2} [0-9]{2} [0-9]{2})",
    "mx": r"[1-9][0-9][ \-][0-9]{4}[ \-][0-9]{4}",
    "us": r"(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[\-. ])[2-9][0-9]{2}[\-. ][0-9]{4}",
}
_LOCALES_BY_LANGUAGE = {
    "vi": ("trunk0",), "th": ("trunk0",), "id": ("trunk0",), "ar": ("trunk0",),
    "pt": ("br", "trunk0"), "es": ("es", "mx"), "en": ("us", "trunk0"),
}
_ALWAYS = ("us", "trunk0")  # English (US/UK) numbers turn up in every language
_DATE = re.compile(r"[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{2,4}")
_CURRENCY_AFTER = re.compile(r"\s?(?:đ|₫|vnd|k\b|tr\b|triệu|\$|฿|บาท|€|rp|reais|usd|pesos|sar|ريال)", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"(?:\$|฿|€|£|rp\.?|r\$|us\$|mx\$|vnd|usd)\s?$", re.IGNORECASE)


@lru_cache(maxsize=64)
def _phone_detector(language: str | None, *, international_only: bool = False) -> _Detector:
    locales = _LOCALES_BY_LANGUAGE.get(language or "", tuple(_LOCAL_PHONES))
    alternatives = [_INTERNATIONAL]
    if not international_only:
        alternatives += [_LOCAL_PHONES[name] for name in dict.fromkeys((*locales, *_ALWAYS))]
    pattern = re.compile(rf"(?<![0-9A-Za-z+])(?:{'|'.join(alternatives)})(?![0-9A-Za-z])")

    def phones(text: str) -> Iterator[_Span]:
        for match in pattern.finditer(text):
            candidate = match.group()
            digits = sum(c.isdigit() for c in candidate)
            if not 8 <= digits <= 15 or _DATE.search(candidate):
                continue
            if _CURRENCY_AFTER.match(text, match.end()) or _CURRENCY_BEFORE.search(text[: match.start()]):
                continue
            yield match.start(), match.end(), "PHONE", "[PHONE]"

    return phones


# ------------------------------------------------------------------------------ names
_INTRO = re.compile(
    r"(?i:my name is|my name's|tên tôi là|tên em là|tên mình là|tôi tên là|tôi tên|em tên là|em tên|mình tên là|"
    r"mình tên|me llamo|mi nombre es|meu nome é|me chamo|nama saya|nama aku|namaku|اسمي)\s+"
)
_THAI_INTRO = re.compile(r"(?:ผม|ฉัน|ดิฉัน|หนู|เรา|กระผม|ข้าพเจ้า)\s?ชื่อ\s?|(?:^|\s)ชื่อ\s+")
_GREETING = re.compile(
    r"(?<!\w)(?i:hi|hello|hey|dear|thanks|thank you|thx|chào|xin chào|cảm ơn|cám ơn|hola|gracias|olá|ola|oi|"
    r"obrigad[oa]|halo|hai|terima kasih|makasih|مرحبا|شكرا)"
    r"(?:\s+(?i:anh|chị|em|bạn|cô|chú|bác|kak|mas|mbak|pak|bu|bapak|ibu|sr\.?|sra\.?|señor|señora|senhor|senhora|"
    r"mr\.?|ms\.?|mrs\.?|miss))?\s+"
)
_THAI_GREETING = re.compile(r"(?:สวัสดี|ขอบคุณ)(?:ครับ|ค่ะ|คะ)?\s?(?:คุณ|น้อง|พี่)")
_WORD = re.compile(r"[^\W\d_][\w'’\-]*")
_THAI_WORD = re.compile(r"[\u0E00-\u0E7F]+")
_ARABIC_WORD = re.compile(r"[\u0620-\u064A\u0660-\u06FF]+")
_THAI_PARTICLES = re.compile(r"(?:ครับ|ค่ะ|คะ|นะ|จ้า|จ้ะ|ค่า)+$")
_NOT_NAMES = {
    "all", "team", "everyone", "everybody", "there", "guys", "folks", "again", "so", "for", "you", "admin", "shop",
    "support", "sir", "madam", "ad", "mọi", "cả", "tất", "todos", "equipo", "equipe", "semua", "gan", "min",
}


def _capitalised_words(text: str, start: int, *, max_words: int) -> tuple[int, int] | None:
    """Span of up to ``max_words`` capitalised words starting at ``start`` (single spaces between)."""
    end, pos = None, start
    for _ in range(max_words):
        word = _WORD.match(text, pos)
        if not word or not word.group()[0].isupper() or word.group().casefold() in _NOT_NAMES:
            break
        end, pos = word.end(), word.end() + 1
        if not text.startswith(" ", word.end()):
            break
    return (start, end) if end is not None else None


def _names(text: str) -> Iterator[_Span]:
    for pattern, max_words in ((_INTRO, 4), (_GREETING, 2)):
        for match in pattern.finditer(text):
            if (span := _capitalised_words(text, match.end(), max_words=max_words)) is not None:
                yield span[0], span[1], "NAME", "[NAME]"
    for pattern in (_THAI_INTRO, _THAI_GREETING):
        for match in pattern.finditer(text):
            word = _THAI_WORD.match(text, match.end())
            if word:
                name = _THAI_PARTICLES.sub("", word.group())
                if name:
                    yield word.start(), word.start() + len(name), "NAME", "[NAME]"
    for match in _INTRO.finditer(text):
        if (word := _ARABIC_WORD.match(text, match.end())) is not None:
            yield word.start(), word.end(), "NAME", "[NAME]"


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
    return [_urls, _keeping(_handles, keep), _emails, _keyword_ids, _phone_detector(language, international_only=True),
            _cards, _phone_detector(language), _bare_orders, _keeping(_names, keep)]


def redact(text: str, *, language: str | None = None, keep: Iterable[str] = ()) -> Redacted:
    """Replace personal data in ``text`` with ``[KIND]`` placeholders.

    ``language`` (ISO 639-1, e.g. ``"vi"``) narrows local phone formats to that language's
    countries plus US/UK and trunk-0 numbers; ``None`` or a language without local formats
    tries every format. ``keep`` lists brand terms never redacted as names or handles (e.g. the
    brand's ``terms()``, which include its support handle such as ``@SoramiCare``).
    International ``+cc`` numbers, emails, links, handles, cards and order numbers are always redacted.
    """
    shadow = text.translate(_DIGITS)
    keep_folded = frozenset(k.lstrip("@").casefold() for k in keep)
    taken: list[_Span] = []
    for detector in _detectors(language, keep_folded):
        for span in detector(shadow):
            if not any(span[0] < end and start < span[1] for start, end, _, _ in taken):
                taken.append(span)
    taken.sort()
    out, pos = [], 0
    for start, end, _, replacement in taken:
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return Redacted(text="".join(out), counts_by_kind=dict(Counter(kind for _, _, kind, _ in taken)))
