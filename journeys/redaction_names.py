"""People's names for redaction: introduced ("my name is"), greeted ("Hi Anna") or after a title or role
("Mr. Smith", "Account holder J. Doe", "anh Nam", "คุณสมชาย", "السيد أحمد"), in en, vi, th, id, es, pt, ar.

Latin-script names must be capitalised; Thai and Arabic names are the word(s) right after the cue.
``name_spans`` yields ``(start, end)`` of the name only: the title or greeting stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["name_spans"]

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
# A title or role right before a name. The cue may be lower-case; the name must be capitalised.
_TITLE = re.compile(
    r"(?<![\w-])(?:(?i:mr|mrs|ms|mx|miss|dr|dra|prof|sr|sra|srta|sres|lic|ing|sdr|sdri)\.?"
    r"|(?i:don|doña|dona|señor|señora|señorita|senhor|senhora|senhorita|bapak|ibu|pak|bu|mas|mbak|kak|bang)"
    r"|Anh|Chị|Cô|Chú|Bác|Ông|Bà|anh|chị|cô|chú|bác|ông|bà"
    r"|(?i:account holder|account owner|cardholder|card holder|titular(?: da conta| de la cuenta| de la línea)?|"
    r"atas nama|a\.n\.|a nombre de|em nome de|chủ tài khoản(?: là)?|chủ thẻ(?: là)?|đứng tên))[ \t]+"
)
_UNDER_NAME = re.compile(r"(?i:under)\s+(?=(?:[A-Z][\w'’\-]*\s?){1,3}[’']s name)")
_LATIN_NAME_WORD = re.compile(r"[^\W\d_]\.|[^\W\d_]+(?:['’][^\W\d_]+)?(?:-[^\W\d_]+)?")
_NOT_NAMES = {
    "all", "team", "everyone", "everybody", "there", "guys", "folks", "again", "so", "for", "you", "admin", "shop",
    "support", "sir", "madam", "ad", "mọi", "cả", "tất", "todos", "equipo", "equipe", "semua", "gan", "min", "i",
}
_THAI_TITLE = re.compile(r"(?<!ขอบ)(?<!พระ)(?<!บุญ)(?:คุณ|นางสาว|นาย|นาง|น\.ส\.|ด\.ช\.|ด\.ญ\.)(?=[\u0E00-\u0E7F])")
_THAI_GREETING = re.compile(r"(?:สวัสดี|ขอบคุณ)(?:ครับ|ค่ะ|คะ)?\s?(?:คุณ|น้อง|พี่)")
_THAI_ROLE = re.compile(r"(?:บัญชีเป็นชื่อ|ชื่อบัญชี|ชื่อเจ้าของบัญชี)\s*")
# Words that follow คุณ/นาย/นาง without being a name ("คุณภาพ" quality, "คุณแม่" mother, "นายจ้าง" employer).
_THAI_NOT_NAME = re.compile(
    r"(?:ภาพ|ค่า|สมบัติ|ลักษณะ|ประโยชน์|ธรรม|ความ|ลูกค้า|แม่|พ่อ|ป้า|ลุง|ยาย|ตา|ย่า|ปู่|ช่วย|ไม่|จะ|ต้อง|ก็|เป็น|ได้|มี|คือ|"
    r"ทำ|ควร|ว่า|เอง|ครับ|ค่ะ|คะ|ที่|พนักงาน|จ้าง|หน้า|ฟ้า|ทุน|กอง|ร้อย|พล|ก)"
)
_THAI_CUT = re.compile(r"ที่|ซึ่ง|ได้|ไม่|ช่วย|บอก|ว่า|เป็น|จาก|ของ|และ|ก็|จะ|ครับ|ค่ะ|คะ|นะ|ฝ่าย|พูด|แผนก|โทร|ตอบ|ให้|ยัง|"
                       r"เลย|ด้วย|เคย|ทำ|ส่ง|สาขา|เจ้าของ|เป็น")
_THAI_RUN = re.compile(r"[\u0E00-\u0E7F]+")
_THAI_PARTICLES = re.compile(r"(?:ครับ|ค่ะ|คะ|นะ|จ้า|จ้ะ|ค่า)+$")
_ARABIC_TITLE = re.compile(r"(?:السيد|السيدة|الأستاذ|الأستاذة|الاستاذ|الدكتور|الدكتورة|الشيخ|المهندس|المهندسة|باسم|"
                           r"صاحب الحساب|صاحبة الحساب)\s+")
_ARABIC_WORD = re.compile(r"[\u0620-\u064A\u0660-\u06FF]+")


def _latin_names(text: str, start: int, *, max_words: int) -> tuple[int, int] | None:
    """Span of up to ``max_words`` capitalised words (or initials "J.") from ``start``, single spaces between."""
    end, pos = None, start
    for _ in range(max_words):
        word = _LATIN_NAME_WORD.match(text, pos)
        if not word or not word.group()[0].isupper() or word.group().rstrip(".").casefold() in _NOT_NAMES:
            break
        end, pos = word.end(), word.end() + 1
        if not text.startswith(" ", word.end()):
            break
    return (start, end) if end is not None else None


def _thai_name(text: str, start: int, *, surname: bool) -> tuple[int, int] | None:
    run = _THAI_RUN.match(text, start)
    if run is None or _THAI_NOT_NAME.match(run.group()):
        return None
    name = _THAI_PARTICLES.sub("", run.group())
    cut = next((m.start() for m in _THAI_CUT.finditer(name) if m.start() >= 2), len(name))
    name = name[:cut]
    if len(name) < 2:
        return None
    end = start + len(name)
    if surname and cut == len(run.group()) and text.startswith(" ", end):
        last = _THAI_RUN.match(text, end + 1)
        if last is not None and not _THAI_CUT.match(last.group()) and len(last.group()) <= 12:
            end = last.end()
    return start, end


def _arabic_name(text: str, start: int) -> tuple[int, int] | None:
    first = _ARABIC_WORD.match(text, start)
    if first is None or first.group().startswith("ال"):
        return None
    end = first.end()
    second = _ARABIC_WORD.match(text, end + 1) if text.startswith(" ", end) else None
    if second is not None and second.group().startswith("ال") and len(second.group()) > 4:
        end = second.end()  # a family name such as العتيبي
    return start, end


def name_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of names in ``text``, in any order, possibly overlapping."""
    for pattern, max_words in ((_INTRO, 4), (_GREETING, 2), (_TITLE, 3), (_UNDER_NAME, 3)):
        for match in pattern.finditer(text):
            if (span := _latin_names(text, match.end(), max_words=max_words)) is not None:
                yield span
    for pattern, surname in ((_THAI_INTRO, False), (_THAI_GREETING, False), (_THAI_TITLE, True), (_THAI_ROLE, True)):
        for match in pattern.finditer(text):
            if (span := _thai_name(text, match.end(), surname=surname)) is not None:
                yield span
    for pattern in (_INTRO, _ARABIC_TITLE):
        for match in pattern.finditer(text):
            if (span := _arabic_name(text, match.end())) is not None:
                yield span
