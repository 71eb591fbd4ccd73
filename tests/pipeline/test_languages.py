"""Language identification of short multilingual social posts."""

import pytest

from journeypulse.config import BrandConfig, LanguageConfig
from pipeline.languages import LanguageIdentifier

BRANDS = [BrandConfig(name="Sorami", products=["Sorami Pay", "Sorami Plus"], hashtags=["Sorami"])]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier(LanguageConfig(), BRANDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Giao hàng chậm quá, Sorami ơi, đợi 5 ngày rồi", "vi"),
        ("giao hang cham qua sorami oi doi lau lam roi", "vi"),
        ("ส่งของช้ามาก Sorami รอมาสามวันแล้ว", "th"),
        ("Entrega atrasada de novo, Sorami, que decepção", "pt"),
        ("El pedido de Sorami llegó tarde y sin factura", "es"),
        ("Pengiriman Sorami lama banget, paketnya belum sampai", "id"),
        ("Sorami Pay charged me twice and support never replied", "en"),
        ("التوصيل من سورامي متأخر جدا", "ar"),
    ],
)
def test_sample_languages_are_identified(identifier: LanguageIdentifier, text: str, expected: str) -> None:
    assert identifier.identify(text).language == expected


def test_emoji_and_brand_only_posts_are_undetermined_unless_the_source_says(identifier: LanguageIdentifier) -> None:
    assert identifier.identify("🔥🔥 #Sorami").language == "und"
    hinted = identifier.identify("🔥🔥 #Sorami", hint="th")
    assert (hinted.language, hinted.method) == ("th", "source_hint")


def test_thai_script_decides_without_the_statistical_model(identifier: LanguageIdentifier) -> None:
    guess = identifier.identify("แอป Sorami เด้งออกตลอด")
    assert (guess.language, guess.method) == ("th", "script")


def test_low_confidence_defers_to_the_source_hint() -> None:
    strict = LanguageIdentifier(LanguageConfig(min_confidence=0.999), BRANDS)
    assert strict.identify("ok Sorami", hint="id").method == "source_hint"


@pytest.mark.parametrize(
    "text",
    [
        "yaar Sorami ka delivery boy phir se late aaya, bahut bura experience tha",
        "mera paisa abhi tak wapas nahi aaya, kitne din lagenge bhai",
        "kya bakwas app hai, har baar login karne pe error aata hai",
        "bhai ye offer sach mein accha hai, maine kal hi order kiya",
    ],
)
def test_romanised_hindi_is_identified_as_hindi(identifier: LanguageIdentifier, text: str) -> None:
    guess = identifier.identify(text)
    assert (guess.language, guess.method) == ("hi", "latin_refiner")


@pytest.mark.parametrize(
    "text",
    [
        "shop giao hang nhanh, dong goi can than, se ung ho tiep",
        "app cu bi loi dang nhap hoai, goi tong dai thi khong ai nghe may",
        "minh muon huy don hang nay, hoan tien giup minh voi",
    ],
)
def test_vietnamese_without_diacritics_is_identified_as_vietnamese(identifier: LanguageIdentifier, text: str) -> None:
    assert identifier.identify(text).language == "vi"


def test_the_refiner_leaves_english_and_spanish_to_the_statistical_model(identifier: LanguageIdentifier) -> None:
    english = identifier.identify("the delivery was late again and nobody answered my emails")
    spanish = identifier.identify("la entrega llegó tarde otra vez y nadie contestó mis correos")
    assert (english.language, english.method) == ("en", "langid")
    assert (spanish.language, spanish.method) == ("es", "langid")


def test_the_refiner_is_only_trusted_for_candidate_languages() -> None:
    without_hindi = LanguageIdentifier(LanguageConfig(candidates=["en", "es"]), BRANDS)
    assert without_hindi.identify("mera paisa abhi tak wapas nahi aaya, kitne din lagenge bhai").language != "hi"
