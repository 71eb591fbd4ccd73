"""Redaction replaces personal data with typed placeholders and leaves prices, dates, products alone."""

import pytest

from journeys.redaction import KINDS, redact


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("vi", "Gọi mình 0912 345 678 hoặc +84 912.345.678 nhé", "Gọi mình [PHONE] hoặc [PHONE] nhé"),
        ("vi", "số bàn 028 3822 1234", "số bàn [PHONE]"),
        ("th", "โทร 081-234-5678 หรือ 02-123-4567 หรือ +66 81 234 5678", "โทร [PHONE] หรือ [PHONE] หรือ [PHONE]"),
        ("th", "โทร๐๘๑๒๓๔๕๖๗๘ด่วน", "โทร[PHONE]ด่วน"),
        ("id", "WA 0812-3456-7890 atau +62 812 3456 7890", "WA [PHONE] atau [PHONE]"),
        ("pt", "ligue +55 (11) 91234-5678 ou (11) 91234-5678", "ligue [PHONE] ou [PHONE]"),
        ("es", "llámame al +34 612 34 56 78 o al 612 345 678", "llámame al [PHONE] o al [PHONE]"),
        ("es", "en CDMX: +52 55 1234 5678 o 55 1234 5678", "en CDMX: [PHONE] o [PHONE]"),
        ("en", "call (415) 555-0132 or +1 415 555 0132 or 07700 900123", "call [PHONE] or [PHONE] or [PHONE]"),
        ("ar", "رقمي +٩٦٦ ٥٠ ١٢٣ ٤٥٦٧ أو ٠٥٠١٢٣٤٥٦٧", "رقمي [PHONE] أو [PHONE]"),
    ],
)
def test_local_and_international_phone_numbers_become_phone_placeholders(language, text, expected):
    assert redact(text, language=language).text == expected


def test_every_phone_format_is_tried_when_the_language_is_unknown():
    text = "+84 912 345 678 / 081-234-5678 / (11) 91234-5678 / 612 345 678 / (415) 555-0132"
    result = redact(text)
    assert result.text == "[PHONE] / [PHONE] / [PHONE] / [PHONE] / [PHONE]"
    assert result.counts_by_kind == {"PHONE": 5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my order #123456 is late", "my order #[ORDER] is late"),
        ("order number: 98765432 never came", "order number: [ORDER] never came"),
        ("ticket SRM-12345678 still open", "ticket [ORDER] still open"),
        ("see SRM-12345678", "see [ORDER]"),
        ("đơn hàng 123456 chưa giao", "đơn hàng [ORDER] chưa giao"),
        ("mã đơn hàng: SO123456 bị huỷ", "mã đơn hàng: [ORDER] bị huỷ"),
        ("pedido 123456 atrasado", "pedido [ORDER] atrasado"),
        ("número do pedido nº 7654321", "número do pedido nº [ORDER]"),
        ("คำสั่งซื้อ 123456 ยังไม่มา", "คำสั่งซื้อ [ORDER] ยังไม่มา"),
        ("nomor pesanan 240001234 belum sampai", "nomor pesanan [ORDER] belum sampai"),
        ("رقم الطلب ١٢٣٤٥٦ متأخر", "رقم الطلب [ORDER] متأخر"),
        ("my account 12345678 is locked", "my account [ACCOUNT] is locked"),
        ("số tài khoản 0123456789 bị khoá", "số tài khoản [ACCOUNT] bị khoá"),
        ("no rekening 1234567890", "no rekening [ACCOUNT]"),
    ],
)
def test_order_and_account_numbers_keep_their_keyword_and_lose_the_number(text, expected):
    assert redact(text).text == expected


def test_luhn_valid_card_numbers_are_cards_and_luhn_invalid_ones_are_not():
    assert redact("charged on 4111 1111 1111 1111 twice").text == "charged on [CARD] twice"
    assert redact("card 5500-0000-0000-0004").counts_by_kind == {"CARD": 1}
    assert "[CARD]" not in redact("serial 4111 1111 1111 1112").text


def test_an_international_number_that_happens_to_pass_luhn_is_a_phone_not_a_card():
    assert redact("No HP +62 857-1234-5678.", language="id").text == "No HP [PHONE]."


def test_the_brand_support_handle_passed_as_keep_stays_and_customer_handles_go():
    text = "@SoramiCare I DM'd @lan_nguyen's order number SRM-77012456"
    assert redact(text, keep=["Sorami", "@SoramiCare"]).text == "@SoramiCare I DM'd [HANDLE]'s order number [ORDER]"


def test_emails_and_handles_are_redacted_including_fediverse_handles():
    result = redact("mail lan.nguyen+cx@gmail.com or ping @lan_nguyen or @lan@mastodon.social")
    assert result.text == "mail [EMAIL] or ping [HANDLE] or [HANDLE]"
    assert result.counts_by_kind == {"EMAIL": 1, "HANDLE": 2}


def test_links_with_tokens_keep_only_their_domain_and_plain_product_links_stay():
    text = ("reset via https://shop.example.com/reset?token=abc123XYZ, track www.sorami.vn/t/8f3a9c1d2e4b5a6f7788 "
            "and see https://sorami.com/products/sorami-plus.")
    assert redact(text).text == ("reset via https://shop.example.com/[URL], track www.sorami.vn/[URL] "
                                 "and see https://sorami.com/products/sorami-plus.")


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "Hi Anna, my name is John Smith.", "Hi [NAME], my name is [NAME]."),
        ("vi", "Chào anh Minh, tên tôi là Nguyễn Văn An.", "Chào anh [NAME], tên tôi là [NAME]."),
        ("th", "ผมชื่อสมชายครับ ขอบคุณคุณมานี", "ผมชื่อ[NAME]ครับ ขอบคุณคุณ[NAME]"),
        ("es", "Hola Lucía, me llamo Ana García", "Hola [NAME], me llamo [NAME]"),
        ("pt", "Olá Carla! Meu nome é João Silva", "Olá [NAME]! Meu nome é [NAME]"),
        ("id", "halo kak Rina, nama saya Budi", "halo kak [NAME], nama saya [NAME]"),
        ("ar", "مرحبا، اسمي أحمد", "مرحبا، اسمي [NAME]"),
    ],
)
def test_introduced_names_and_greeted_agents_become_name_placeholders(language, text, expected):
    assert redact(text, language=language).text == expected


def test_brand_names_passed_as_keep_are_not_taken_for_greeted_names():
    assert redact("Hi Sorami, thanks Anna", keep=["Sorami"]).text == "Hi Sorami, thanks [NAME]"
    assert redact("Hi team, hello everyone").text == "Hi team, hello everyone"


@pytest.mark.parametrize(
    "text",
    [
        "Sorami Plus costs 1.299.000đ since 25/11/2024",
        "giá chỉ 12.990.000 VND từ ngày 2024-11-25 lúc 10:30",
        "ราคา ฿1,290 ถึง 31.12.2024 #SoramiExpress",
        "iPhone 15 Pro 256GB for $1,299.99 or R$ 2.499,90 #BlackFriday",
        "Rp 150.000 ongkir, Galaxy S24 Ultra, 3 pcs",
        "pedido de 3 unidades, total 45,00 € el 01.12.2024 10 h",
        "order 2 items, ordered 3 times",
        "Flash sale 11.11 giảm 50% chỉ còn 199k, mã giảm giá SORAMI50",
        "Hotline 1900 1234 của Sorami, ราคา ๑,๒๙๐ บาท",
        "Galaxy S24 Ultra 12GB/256GB model SM-S928B, version 3.14.2 build 20241125",
        "voucher code 1234-5678-9012 expired, ISBN 978-3-16-148410-0",
        "Black Friday 29/11 — R$ 1.999,00 à vista ou 12x de R$ 166,58",
        "tracking number hasn't moved since 2024-11-20 08:15, called between 10:00-11:30",
    ],
)
def test_prices_dates_products_and_hashtags_are_left_untouched(text):
    result = redact(text)
    assert result.text == text
    assert result.total == 0


def test_redacting_twice_changes_nothing_and_counts_only_use_known_kinds():
    text = "Hi Anna, order #123456, call +84 912 345 678, https://x.example/r?t=1 @me a@b.co"
    once = redact(text)
    assert redact(once.text).text == once.text
    assert set(once.counts_by_kind) <= set(KINDS)
    assert once.total == 6


def test_allowed_kinds_stay_in_the_text_and_everything_else_is_still_redacted() -> None:
    text = "write to ana.lima@example.com or call +55 11 91234-5678, @ana_l on x"
    kept = redact(text, allow={"EMAIL", "PHONE"})
    assert "ana.lima@example.com" in kept.text and "+55 11 91234-5678" in kept.text
    assert "[HANDLE]" in kept.text and kept.counts_by_kind == {"HANDLE": 1}
    with pytest.raises(ValueError, match="not among"):
        redact(text, allow={"SECRETS"})
