"""Phone numbers for redaction: Google's libphonenumber (``phonenumbers``) plus patterns for what it misses.

``phone_spans`` runs on text whose digits are already ASCII (see ``journeys.redaction``) and
yields ``(start, end)`` spans. Business lines (toll-free, premium, shared-cost) are not personal
data and are left alone; prices, dates, times, versions and product codes are never phones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher, PhoneNumberType

__all__ = ["REGIONS_BY_LANGUAGE", "phone_spans"]

REGIONS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "en": ("US", "GB", "AU", "SG", "CA"),
    "vi": ("VN",),
    "th": ("TH",),
    "id": ("ID",),
    "es": ("ES", "MX", "CO", "AR"),
    "pt": ("BR", "PT"),
    "ar": ("SA", "AE", "EG"),
}
"""Regions whose national formats are tried per language (US and GB numbers are tried in every language)."""
_ALWAYS = ("US", "GB")
_ALL_REGIONS = tuple(dict.fromkeys(r for regions in REGIONS_BY_LANGUAGE.values() for r in regions))
_BUSINESS = {PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.UAN}

# A word that says "this is a phone number": numbers after it may be short local ones ("mobile 234-5678").
_CUE = re.compile(
    r"(?<![^\W\d_])(?i:phone|mobile|cell|tel|telp|telpon|telepon|call|ring|text|sms|whats ?app|wa|zalo|line|hp|no\.? hp|"
    r"landline|number|điện thoại|đt|sđt|số|gọi|di động|โทร|เบอร์|มือถือ|ไลน์|nomor|hubungi|móvil|movil|"
    r"celular|cel|teléfono|telefono|telefone|fixo|zap|llam\w*|lig\w*|هاتف|جوال|موبايل|رقم\w*|اتصل\w*|واتساب)"
    r"[^\d\n]{0,24}$"
)
# Words before a number that make it something else: a product code, a version, a price, a reference.
_NOT_A_PHONE_BEFORE = re.compile(
    r"(?i:sku|model|modelo|version|versão|versión|ver\.?|build|v|isbn|imei|serial|s/n|ref\.?|invoice|inv|code|"
    r"código|mã sp|part|item|art\.?|batch|lot|lô|รุ่น|no\. seri|seri|kode|voucher|cupom|cupón|points?|pontos|"
    r"puntos|poin|điểm|แต้ม|نقاط|flight|vuelo|voo|room|quarto|habitación)[\s:#.\-]*$"
)
_CURRENCY_AFTER = re.compile(
    r"\s?(?:đ|₫|vnd|k|tr|triệu|đồng|\$|฿|บาท|€|rp|reais|usd|pesos|sar|aed|egp|ريال|درهم|جنيه|%)(?![^\W\d_])", re.IGNORECASE
)
_CURRENCY_BEFORE = re.compile(r"(?:\$|฿|€|£|rp\.?|r\$|us\$|mx\$|vnd|usd|idr|sar|aed)\s?$", re.IGNORECASE)
_DATE_OR_VERSION = re.compile(
    r"^[0-9]{1,4}([./-])[0-9]{1,2}\1[0-9]{1,4}$"  # 12/05/2024, 2024-05-12
    r"|^(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,3}){2,}$"  # 10.2.3, 2024.11.3 (a dotted phone starts with 0 or has 4 digits last)
    r"|^[0-9]{1,2}[.:][0-9]{2}\s?[-–]\s?[0-9]{1,2}[.:][0-9]{2}$"  # 08.30-16.30
)
# Business hotlines in the national formats (1800/1900 in Vietnam and Australia, 0800, 1-800 toll-free).
_HOTLINE = re.compile(r"\(?(?:1[89]00|0800|1[ .\-]?8(?:00|33|44|55|66|77|88))\b")
_DATE_INSIDE = re.compile(r"(?<![0-9])[0-9]{1,4}([./-])[0-9]{1,2}\1[0-9]{2,4}(?![0-9])")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:[.,][0-9]{3})+(?:[.,][0-9]{1,2})?$")

_S = r"[ .\-]?"
_INTERNATIONAL = rf"(?:\+|00)[1-9][0-9]{{0,2}}(?:[ .\-]?\(0?[0-9]{{1,4}}\))?(?:{_S}[0-9]){{6,13}}"
_LOCAL = {
    # trunk prefix 0: Vietnam 0xx/02x, Thailand 0x-xxx-xxxx, Indonesia 08xx, UK 07xxx, Saudi 05x, Egypt 01x
    "trunk0": rf"\(?0[1-9][0-9]{{0,3}}\)?(?:{_S}[0-9]){{6,11}}",
    "br": r"\([1-9][0-9]\) ?9?[ .]?[0-9]{4}-?[0-9]{4}|[1-9][0-9] 9[0-9]{4}-[0-9]{4}",
    "es": r"[6-9][0-9]{2}(?: [0-9]{3} [0-9]{3}| [0-9]{2} [0-9]{2} [0-9]{2})",
    "mx": r"[1-9][0-9][ \-][0-9]{4}[ \-][0-9]{4}",
    "us": r"(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[\-. ])[0-9]{3}[\-. ][0-9]{4}",
}
_LOCAL_BY_LANGUAGE = {"vi": ("trunk0",), "th": ("trunk0",), "id": ("trunk0",), "ar": ("trunk0",),
                      "pt": ("br", "trunk0"), "es": ("es", "mx"), "en": ("us", "trunk0")}
_SHORT_LOCAL = re.compile(r"(?<![0-9A-Za-z+])[2-9][0-9]{2}[\-. ][0-9]{4}(?![0-9A-Za-z])")  # 7-digit, after a cue only


@lru_cache(maxsize=64)
def _fallback(language: str | None) -> re.Pattern[str]:
    names = _LOCAL_BY_LANGUAGE.get(language or "", tuple(_LOCAL))
    alternatives = [_INTERNATIONAL, *(_LOCAL[n] for n in dict.fromkeys((*names, "us", "trunk0")))]
    return re.compile(rf"(?<![0-9A-Za-z+])(?:{'|'.join(alternatives)})(?![0-9A-Za-z])")


def _regions(language: str | None) -> tuple[str, ...]:
    regions = REGIONS_BY_LANGUAGE.get(language or "")
    return _ALL_REGIONS if regions is None else tuple(dict.fromkeys((*regions, *_ALWAYS)))


def _plausible(text: str, start: int, end: int) -> bool:
    """False for spans that read as a price, date, time, version, product code or reference."""
    candidate = text[start:end]
    digits = sum(c.isdigit() for c in candidate)
    if not 7 <= digits <= 15 or _DATE_OR_VERSION.match(candidate) or _THOUSANDS.match(candidate) or \
            _DATE_INSIDE.search(candidate):
        return False
    before = text[max(0, start - 30) : start]
    if _CURRENCY_AFTER.match(text, end) or _CURRENCY_BEFORE.search(before) or _NOT_A_PHONE_BEFORE.search(before):
        return False
    return not (end < len(text) and text[end] in "%" or start > 0 and text[start - 1] in "#/")


def _cued(text: str, start: int) -> bool:
    return _CUE.search(text[max(0, start - 40) : start]) is not None


def _business(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.number_type(number) in _BUSINESS


def phone_spans(text: str, language: str | None = None) -> list[tuple[int, int]]:
    """Spans of personal phone numbers in ``text`` (ASCII digits), sorted; overlapping finds are merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(_finds(text, language)):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _finds(text: str, language: str | None) -> Iterator[tuple[int, int]]:
    business: list[tuple[int, int]] = []
    valid: list[tuple[int, int]] = []
    found: list[tuple[int, int]] = []
    for region in _regions(language):
        for hit in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
            if _business(hit.number):
                business.append((hit.start, hit.end))
            elif _plausible(text, hit.start, hit.end):
                if phonenumbers.is_valid_number(hit.number):
                    valid.append((hit.start, hit.end))
                elif _cued(text, hit.start):
                    found.append((hit.start, hit.end))
    for match in _fallback(language).finditer(text):
        if _plausible(text, match.start(), match.end()):
            found.append((match.start(), match.end()))
    for match in _SHORT_LOCAL.finditer(text):
        if _cued(text, match.start()) and _plausible(text, match.start(), match.end()):
            found.append((match.start(), match.end()))
    # A hotline that is toll-free/premium/shared-cost in some region, and a valid personal number in none, stays.
    business = [b for b in business if not any(_overlap(b, v) for v in valid)]
    yield from (span for span in valid if not _hotline(text, span))
    yield from (span for span in found if not _hotline(text, span) and not any(_overlap(span, b) for b in business))


def _hotline(text: str, span: tuple[int, int]) -> bool:
    return _HOTLINE.match(text, span[0], span[1]) is not None


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]
