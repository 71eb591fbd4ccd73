"""Street addresses for redaction, in en, vi, th, id, es, pt and ar.

``address_spans`` runs on text whose digits are already ASCII (see ``journeys.redaction``). A span
needs a street word together with a house or street number (or, in Arabic, a named street), so a
street mentioned in passing ("la Calle Mayor estaba cortada", "a Rua Augusta está cheia") stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["address_spans"]

_CAP = r"(?:[A-ZÀ-ÝĐ][\w'’\-]*\.?|[0-9]{1,3}(?:st|nd|rd|th|ª|º)?)"  # a capitalised word or a short street number
_LINK = r"(?:de|da|das|do|dos|del|de la|la|las|los|of|the|y|e)"
_NAME = rf"{_CAP}(?:[ ](?:{_LINK}[ ])?{_CAP}){{0,4}}"  # "Augusta", "Domingos de Morais", "Dr. Fulano de Tal"
_HOUSE_NO = r"(?:n[º°o.]\.?\s*|nr\.?\s*|#\s*)?[0-9]{1,5}[A-Za-z]?(?:\s?[-–/]\s?[0-9]{1,4})?(?![0-9])"
_NUMBER_AFTER = rf",?\s*{_HOUSE_NO}"

_EN_SUFFIX = (r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Close|"
              r"Crescent|Square|Sq|Gardens|Parkway|Pkwy|Row|Walk|Hill|Mews|Grove)")
_EN_UNIT = r"(?:(?:Flat|Apt\.?|Apartment|Unit|Suite)\s+[0-9]+[A-Za-z]?,\s*)"
_EN = re.compile(
    rf"{_EN_UNIT}?(?<![\w$£€.,])[0-9]{{1,5}}[A-Za-z]?\s+(?:{_CAP}\s+){{0,3}}{_EN_SUFFIX}\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    rf"(?:,?\s+(?:Apt\.?|Apartment|Unit|Suite|Flat)\s+[0-9]+[A-Za-z]?)?"
    r"|\bP\.?\s?O\.?\s+Box\s+[0-9]+"
)
_PT_ES_STREET = (
    r"(?i:Rua|R\.|Avenida|Av\.|Avda\.?|Alameda|Al\.|Travessa|Tv\.|Praça|Pça\.?|Estrada|Rodovia|Largo|"
    r"Calle|C/|Paseo|Plaza|Pza\.?|Carrera|Cra\.?|Calzada|Camino|Ronda|Travesía|Bulevar|Diagonal|Transversal)"
)
_PT_ES = re.compile(rf"(?<![\w/]){_PT_ES_STREET}\s+(?:(?:{_LINK}\s+)?{_NAME}){_NUMBER_AFTER}")
_ID = re.compile(
    rf"(?<!\w)(?:Jl|Jln|Jalan|Gg|Gang|Komplek|Kompleks|Perum|Perumahan)\.?\s+{_NAME}"
    r"(?:,?\s*(?:No\.?|Nomor|Kav\.?|Blok)\s*[A-Z]?[0-9]+[A-Za-z]?|\s+[0-9]{1,5}(?![0-9]))"
)
_VI_LOWER = "a-zàáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
_VI_WORD = rf"[A-ZÀ-ỸĐ][{_VI_LOWER}]*"
_VI_STREET_NAME = rf"(?:{_VI_WORD}(?: {_VI_WORD}){{0,3}}|số [0-9]+)"
_VI = re.compile(
    rf"(?<!\w)(?:(?:số|ngõ|ngách|hẻm|kiệt|nhà)\s+)?[0-9]{{1,5}}[A-Za-z]?(?:/[0-9]{{1,4}})*\s+"
    rf"(?:(?:(?:đường|phố|ngõ|hẻm)\s+){_VI_STREET_NAME}|{_VI_WORD}(?: {_VI_WORD}){{1,3}})"
)
_THAI = r"[\u0E00-\u0E7F]+"
_TH_STREET = rf"(?:ซอย|ซ\.|ถนน|ถ\.)\s*{_THAI}(?:\s?[0-9]+)?"
_TH = re.compile(
    rf"(?:บ้านเลขที่|เลขที่)\s*[0-9]+(?:/[0-9]+)?(?:\s*(?:หมู่(?:ที่)?|ม\.)\s*[0-9]+)?(?:\s*{_TH_STREET})*"
    rf"|[0-9]+(?:/[0-9]+)?\s*{_TH_STREET}(?:\s*{_TH_STREET})*"
    rf"|{_TH_STREET}(?:\s*{_TH_STREET})*"
)
_AR_WORD = r"[\u0621-\u064A]+"
_AR_STOP = r"(?:و|بجانب|قرب|عند|في|من|مقابل|خلف|أمام|جنب|بالقرب)"
_AR_STREET = rf"شارع\s+(?:[0-9]+|ال{_AR_WORD}(?:\s+(?!{_AR_STOP}\b|و){_AR_WORD}){{0,2}})"
_AR = re.compile(
    rf"(?:[0-9]+\s+)?{_AR_STREET}(?:،?\s*(?:مبنى|عمارة|رقم|بناية)\s*[0-9]+)?"
    rf"|حي\s+ال{_AR_WORD}،?\s*{_AR_STREET}"
)
_VI_DIACRITIC = re.compile(rf"[{_VI_LOWER[3:]}ĐÀ-Ỹ]")


def address_spans(text: str, language: str | None = None) -> Iterator[tuple[int, int]]:
    """Spans of street addresses in ``text`` (ASCII digits); every language's patterns run, Vietnamese
    number-first street names ("123 Nguyễn Huệ") only when they carry Vietnamese letters."""
    del language  # addresses are written the same way whatever language the mention is in
    for pattern in (_EN, _PT_ES, _ID, _TH, _AR):
        for match in pattern.finditer(text):
            yield match.start(), match.end()
    for match in _VI.finditer(text):
        keyword = re.match(r"(?:số|ngõ|ngách|hẻm|kiệt|nhà)\s", match.group()) or re.search(r"\s(?:đường|phố|ngõ|hẻm)\s",
                                                                                           match.group())
        if keyword or _VI_DIACRITIC.search(match.group()):
            yield match.start(), match.end()
