"""The webhook signature: receivers accept what we sign and nothing else, and only within the replay window."""

from __future__ import annotations

import pytest

from escalation.signing import SignatureError, sign, verify_signature

BODY = b'{"rule":"refund-urgent","text":"ya no espero m\xc3\xa1s"}'
KEY = "whsec-test-key"
T = 1_772_366_400


def test_a_signature_made_with_the_key_verifies_and_returns_its_time() -> None:
    assert verify_signature(BODY, sign(BODY, KEY, T), KEY, now=T + 10) == T


def test_a_changed_body_fails_verification() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(BODY.replace(b"refund", b"refunx"), sign(BODY, KEY, T), KEY, now=T)


def test_another_key_fails_verification() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(BODY, sign(BODY, "other-key", T), KEY, now=T)


def test_a_changed_timestamp_fails_verification() -> None:
    forged = sign(BODY, KEY, T).replace(f"t={T}", f"t={T + 60}")
    with pytest.raises(SignatureError, match="no signature matches"):
        verify_signature(BODY, forged, KEY, now=T + 60)


def test_a_request_replayed_after_the_window_is_rejected() -> None:
    header = sign(BODY, KEY, T)
    assert verify_signature(BODY, header, KEY, now=T + 300) == T
    with pytest.raises(SignatureError, match="outside the 300 s window"):
        verify_signature(BODY, header, KEY, now=T + 301)


def test_a_timestamp_far_in_the_future_is_rejected_too() -> None:
    with pytest.raises(SignatureError, match="outside the 60 s window"):
        verify_signature(BODY, sign(BODY, KEY, T + 120), KEY, now=T, tolerance_seconds=60)


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={T}", "t=soon,v1=abc", "garbage"])
def test_a_missing_or_malformed_header_is_rejected(header: str | None) -> None:
    with pytest.raises(SignatureError, match="X-Journeypulse-Signature"):
        verify_signature(BODY, header, KEY, now=T)


def test_any_of_several_v1_signatures_may_match_while_a_key_is_rotated() -> None:
    old, new = sign(BODY, "old-key", T), sign(BODY, KEY, T)
    header = f"{old},v1={new.split('v1=')[1]}"
    assert verify_signature(BODY, header, KEY, now=T) == T
    assert verify_signature(BODY, header, b"old-key", now=T) == T
