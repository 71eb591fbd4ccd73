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
