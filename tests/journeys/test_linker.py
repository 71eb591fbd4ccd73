"""Rule-based journey linking in every sample language, and its coverage of the bundled sample."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from journeys.linker import Link, RuleLinker
from journeys.taxonomy import load_taxonomy

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_mentions.jsonl"


@pytest.fixture(scope="module")
def linker() -> RuleLinker:
    return RuleLinker(load_taxonomy())


def _stages(links: list[Link]) -> set[str]:
    return {link.stage for link in links}


STAGE_EXAMPLES = [
    # awareness
    ("en", "Saw a Sorami ad on the bus today, never heard of them before", "awareness"),
    ("vi", "Thấy quảng cáo Sorami ở bến xe buýt hôm nay", "awareness"),
    ("th", "เห็นโฆษณาSoramiที่ป้ายรถเมล์วันนี้", "awareness"),
    ("es", "Vi un anuncio de Sorami en el camión hoy", "awareness"),
    ("pt", "Vi uma propaganda da Sorami no ônibus hoje", "awareness"),
    ("id", "Liat iklan Sorami di halte tadi pagi", "awareness"),
    # consideration
    ("en", "Is Sorami Plus worth it for a family of four?", "consideration"),
    ("vi", "Có nên mua điện thoại trên Sorami không các bác", "consideration"),
    ("th", "ซื้อมือถือในSoramiดีไหมครับ", "consideration"),
    ("es", "¿Vale la pena comprar celular en Sorami?", "consideration"),
    ("pt", "Vale a pena comprar celular na Sorami?", "consideration"),
    ("id", "Beli HP di Sorami aman gak ya?", "consideration"),
    # purchase
    ("en", "Just bought a rice cooker on Sorami with a promo code", "purchase"),
    ("vi", "Vừa đặt hàng nồi cơm trên Sorami bằng mã giảm giá", "purchase"),
    ("th", "เพิ่งสั่งซื้อหม้อหุงข้าวในSoramiด้วยโค้ดส่วนลด", "purchase"),
    ("es", "Compré una arrocera en Sorami con cupón", "purchase"),
    ("pt", "Comprei uma panela elétrica na Sorami com cupom", "purchase"),
    ("id", "Barusan beli rice cooker di Sorami pake kode promo", "purchase"),
    # delivery / onboarding
    ("en", "The Sorami courier dropped the parcel at my door", "delivery"),
    ("vi", "Shipper Sorami giao hàng tận cửa luôn", "delivery"),
    ("th", "ไรเดอร์Soramiมาส่งพัสดุถึงหน้าบ้าน", "delivery"),
    ("es", "El repartidor de Sorami dejó el paquete en mi puerta", "delivery"),
    ("pt", "O entregador da Sorami deixou o pacote na porta", "delivery"),
    ("id", "Kurir Sorami nganter paket sampai depan pintu", "delivery"),
    # usage
    ("en", "The new Sorami wallet feature makes splitting bills easy", "usage"),
    ("vi", "Tính năng mới của ví Sorami chia tiền tiện ghê", "usage"),
    ("th", "ฟีเจอร์ใหม่ในกระเป๋าเงินSoramiใช้งานง่ายมาก", "usage"),
    ("es", "La nueva función de la billetera Sorami está buena", "usage"),
    ("pt", "A nova funcionalidade da carteira Sorami é boa", "usage"),
    ("id", "Fitur baru dompet Sorami enak dipake", "usage"),
    # support
    ("en", "Contacted Sorami customer service about my voucher", "support"),
    ("vi", "Gọi tổng đài Sorami hỏi về voucher", "support"),
    ("th", "ติดต่อคอลเซ็นเตอร์Soramiเรื่องโค้ด", "support"),
    ("es", "Escribí a atención al cliente de Sorami por mi cupón", "support"),
    ("pt", "Falei com o atendimento da Sorami sobre meu cupom", "support"),
    ("id", "Hubungi customer service Sorami soal voucher", "support"),
    # loyalty / advocacy
    ("en", "I love Sorami, highly recommend it to everyone", "loyalty"),
    ("vi", "Rất thích Sorami, giới thiệu cho cả nhà dùng", "loyalty"),
    ("th", "ชอบมากSorami แนะนำเลยทุกคน", "loyalty"),
    ("es", "Me encanta Sorami, lo recomiendo a todos", "loyalty"),
    ("pt", "Amo a Sorami, recomendo pra todo mundo", "loyalty"),
    ("id", "Suka banget sama Sorami, rekomen buat semua", "loyalty"),
    # exit
    ("en", "Done with Sorami, never again", "exit"),
    ("vi", "Tạm biệt Sorami, không bao giờ quay lại", "exit"),
    ("th", "เลิกใช้Soramiแล้ว ไม่ใช้อีก", "exit"),
    ("es", "Adiós Sorami, nunca más", "exit"),
    ("pt", "Tchau Sorami, nunca mais", "exit"),
    ("id", "Kapok pakai Sorami, terakhir kali", "exit"),
]


@pytest.mark.parametrize(("language", "text", "stage"), STAGE_EXAMPLES)
def test_each_stage_is_found_in_each_sample_language(linker: RuleLinker, language: str, text: str,
                                                      stage: str) -> None:
    assert stage in _stages(linker.link(text, language=language, channel="x"))


SIGNAL_EXAMPLES = [
    ("en", "My Sorami order is 5 days late", "late_delivery", "delivery"),
    ("en", "Sorami Pay card declined at checkout", "payment_failed", "purchase"),
    ("en", "Sorami App crashes every time I open it", "app_crash", "usage"),
    ("en", "Sorami support was rude to me", "rude_agent", "support"),
    ("en", "I want a refund from Sorami", "refund_request", "exit"),
    ("en", "Please unsubscribe me from Sorami emails", "unsubscribe", "exit"),
    ("en", "Switching to another app, bye Sorami", "switch_to_competitor", "exit"),
    ("en", "Sorami sent me the wrong item again", "wrong_item", "delivery"),
    ("vi", "Đơn Sorami giao trễ cả tuần", "late_delivery", "delivery"),
    ("vi", "Hàng Sorami bị vỡ hết", "damaged_item", "delivery"),
    ("vi", "Sorami có phí ẩn khi thanh toán", "hidden_fees", "purchase"),
    ("vi", "Không đăng nhập được Sorami từ sáng", "login_problem", "usage"),
    ("vi", "Hủy đơn Sorami luôn cho rồi", "cancellation", "exit"),
    ("vi", "Sorami ép mua plus hoài, không nâng cấp đâu", "refused_upgrade", "consideration"),
    ("th", "Soramiตัดเงินซ้ำสองรอบ", "payment_failed", "purchase"),
    ("th", "โทรหาSoramiรอสายนานมาก ไม่มีใครตอบ", "long_wait", "support"),
    ("th", "ยังไม่ได้เงินคืนจากSoramiเลย", "refund_delay", "support"),
    ("th", "Soramiสินค้าหมดตลอด", "out_of_stock", "purchase"),
    ("th", "ลบแอปSoramiแล้ว", "uninstall", "exit"),
    ("th", "ทิ้งไว้ในตะกร้าSorami ไม่ซื้อแล้ว", "abandoned_cart", "purchase"),
    ("es", "Mi paquete de Sorami llegó roto", "damaged_item", "delivery"),
    ("es", "La app de Sorami se cierra sola", "app_crash", "usage"),
    ("es", "Sorami está muy caro ahora", "price", "consideration"),
    ("es", "Cancelé mi Sorami Plus", "cancellation", "exit"),
    ("es", "Me cambio a otra app, Sorami ya no", "switch_to_competitor", "exit"),
    ("es", "No voy a pagar Sorami Plus", "refused_upgrade", "consideration"),
    ("pt", "Meu pedido da Sorami está atrasado", "late_delivery", "delivery"),
    ("pt", "Atendente da Sorami foi grosseira", "rude_agent", "support"),
    ("pt", "Sorami cobra taxa de serviço escondida", "hidden_fees", "purchase"),
    ("pt", "Quero me descadastrar dos e-mails da Sorami", "unsubscribe", "exit"),
    ("pt", "Desisti da compra na Sorami", "abandoned_cart", "purchase"),
    ("pt", "Quero reembolso da Sorami", "refund_request", "exit"),
    ("id", "Pembayaran gagal terus di Sorami", "payment_failed", "purchase"),
    ("id", "CS Sorami gak dibales dari kemarin", "long_wait", "support"),
    ("id", "Gak bisa login Sorami", "login_problem", "usage"),
    ("id", "Sorami sekarang mahal banget", "price", "consideration"),
    ("id", "Gak jadi beli di Sorami, ongkirnya gede", "abandoned_cart", "purchase"),
    ("id", "Udah uninstall Sorami", "uninstall", "exit"),
    ("ar", "طلبي من Sorami متأخر", "late_delivery", "delivery"),
    ("ar", "ألغيت اشتراك Sorami", "cancellation", "exit"),
]


@pytest.mark.parametrize(("language", "text", "signal", "stage"), SIGNAL_EXAMPLES)
def test_pain_points_and_exit_signals_are_found_and_imply_their_stage(
        linker: RuleLinker, language: str, text: str, signal: str, stage: str) -> None:
    links = linker.link(text, language=language, channel="x")

    hits = [link for link in links if signal in (link.pain_point, link.exit_signal)]
    assert hits, [(link.stage, link.pain_point, link.exit_signal) for link in links]
    assert hits[0].stage == stage


def test_every_bundled_pain_point_and_exit_signal_has_a_linking_example_above() -> None:
    taxonomy = load_taxonomy()
    named = {signal for _, _, signal, _ in SIGNAL_EXAMPLES}
    assert {e.name for e in (*taxonomy.pain_points, *taxonomy.exit_signals)} <= named


def test_thai_text_without_any_spaces_links_stage_and_pain_point(linker: RuleLinker) -> None:
    links = linker.link("สั่งของจากSoramiส่งช้ามากรอของมาห้าวันแล้วยังไม่ได้รับ", language="th", channel="x")

    assert ("delivery", "late_delivery") in {(link.stage, link.pain_point) for link in links}


def test_vietnamese_without_diacritics_links_like_with_diacritics(linker: RuleLinker) -> None:
    accented = linker.link("Đơn hàng Sorami giao trễ, chưa nhận được hàng", language="vi", channel="x")
    bare = linker.link("don hang sorami giao tre, chua nhan duoc hang", language="vi", channel="x")

    assert [(lk.stage, lk.pain_point, lk.confidence) for lk in bare] == \
        [(lk.stage, lk.pain_point, lk.confidence) for lk in accented]
    assert ("delivery", "late_delivery") in {(lk.stage, lk.pain_point) for lk in bare}


def test_vietnamese_old_and_new_tone_mark_placement_both_match(linker: RuleLinker) -> None:
    for text in ("Tôi hủy đơn Sorami rồi", "Tôi huỷ đơn Sorami rồi"):  # ủy (new style) vs uỷ (old style)
        links = linker.link(text, language="vi", channel="x")
        assert ("exit", "cancellation") in {(lk.stage, lk.exit_signal) for lk in links}, text


def test_code_mixed_thai_and_english_post_links_english_signals(linker: RuleLinker) -> None:
    links = linker.link("แอป Sorami crash อีกแล้ว 555 ต้อง force close ตลอด", language="th", channel="google_play")

    assert {(lk.stage, lk.pain_point) for lk in links} >= {("usage", "app_crash")}
    assert all(lk.touchpoint == "app_review" for lk in links)


def test_single_stage_keyword_is_low_confidence_and_flagged_for_review(linker: RuleLinker) -> None:
    [link] = linker.link("Sorami wallet", language="en", channel="x")

    assert (link.stage, link.pain_point, link.exit_signal) == ("usage", None, None)
    assert link.confidence == 0.5
    assert link.needs_review is True
    assert link.evidence == ("wallet",)


def test_more_and_stronger_evidence_raises_confidence_up_to_a_cap(linker: RuleLinker) -> None:
    def confidence(text: str) -> float:
        return max(link.confidence for link in linker.link(text, language="en", channel="x"))

    one_keyword = confidence("sorami courier")
    two_keywords = confidence("sorami courier and tracking")
    pain_phrase = confidence("sorami order is late")
    many = confidence("sorami courier late, delayed, tracking says never arrived, where is my order")

    assert one_keyword == 0.5 and two_keywords == 0.75
    assert pain_phrase > one_keyword
    assert two_keywords < many <= 0.99


def test_a_hit_from_another_language_weighs_less_except_english(linker: RuleLinker) -> None:
    [as_spanish] = linker.link("sorami envío", language="es", channel=None)
    [as_thai] = linker.link("sorami envío", language="th", channel=None)
    [english_in_thai] = linker.link("sorami courier", language="th", channel=None)

    assert as_spanish.confidence == 0.5
    assert as_thai.confidence == 0.4
    assert english_in_thai.confidence == 0.5


def test_links_are_frozen_carry_the_method_and_the_linker_revision_is_the_taxonomy_version(
        linker: RuleLinker) -> None:
    [link, *_] = linker.link("sorami refund please", language="en", channel="reddit")

    assert link.method == "rules"
    assert link.touchpoint == "community"
    assert linker.revision == load_taxonomy().version
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.stage = "usage"  # type: ignore[misc]


def test_text_without_journey_evidence_gets_no_links_and_unknown_channel_no_touchpoint(
        linker: RuleLinker) -> None:
    assert linker.link("#Sorami 🙂", language=None, channel="x") == []
    assert all(lk.touchpoint is None for lk in linker.link("sorami courier", language="en", channel="fax"))


def test_region_suffixed_language_codes_are_treated_as_the_base_language(linker: RuleLinker) -> None:
    assert linker.link("sorami entrega", language="pt-BR", channel=None) == \
        linker.link("sorami entrega", language="pt", channel=None)


def test_links_come_most_confident_first_and_linking_is_deterministic(linker: RuleLinker) -> None:
    text = "Sorami order late, courier rude, I want a refund and I'm switching to another app"
    first = linker.link(text, language="en", channel="x")

    assert first == linker.link(text, language="en", channel="x")
    assert [lk.confidence for lk in first] == sorted((lk.confidence for lk in first), reverse=True)


def test_review_threshold_outside_zero_to_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="review_threshold"):
        RuleLinker(load_taxonomy(), review_threshold=1.5)


def test_bundled_sample_links_every_stage_and_most_mentions(linker: RuleLinker) -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    stage_counts: Counter[str] = Counter()
    linked = 0
    for row in rows:
        stages = _stages(linker.link(row["text"], language=row["lang"], channel=row["channel"]))
        linked += bool(stages)
        stage_counts.update(stages)

    share = linked / len(rows)
    print(f"\nsample linking: {linked}/{len(rows)} mentions ({share:.1%}) get >= 1 stage; "
          f"per stage {dict(stage_counts)}")
    assert share > 0.85
    assert all(stage_counts[stage] >= 20 for stage in linker.taxonomy.stage_names), stage_counts
