"""QR tokens: Ed25519, verified offline, forged/expired/foreign ones refused with a reason."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from kioskd import tokens
from kioskd.tokens import TokenError

KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key()
NOW = 1_796_000_000.0


def test_round_trip_and_compact():
    text = tokens.mint(KEY, "R-1001", "sim-1", NOW + 60, "abc")
    token = tokens.verify(PUB, text, "sim-1", NOW)
    assert token == tokens.Token("R-1001", "sim-1", NOW + 60, "abc")
    assert len(text) < 180 and text.startswith("KD1.")


@pytest.mark.parametrize("mutate,reason", [
    (lambda t: tokens.mint(Ed25519PrivateKey.generate(), "R-1001", "sim-1", NOW + 60), "forged"),
    (lambda t: t[:-3] + ("AAA" if t[-3:] != "AAA" else "BBB"), "forged"),
    (lambda t: t.replace("KD1.", "KD2."), "malformed"),
    (lambda t: "hello world", "malformed"),
    (lambda t: t + "." + t, "malformed"),
    (lambda t: tokens.mint(KEY, "R-1001", "other", NOW + 60), "wrong_kiosk"),
    (lambda t: tokens.mint(KEY, "R-1001", "sim-1", NOW - 1), "token_expired"),
])
def test_refusals(mutate, reason):
    text = mutate(tokens.mint(KEY, "R-1001", "sim-1", NOW + 60))
    with pytest.raises(TokenError) as err:
        tokens.verify(PUB, text, "sim-1", NOW)
    assert err.value.reason == reason


def test_payload_swap_breaks_signature():
    a = tokens.mint(KEY, "R-1", "sim-1", NOW + 60).split(".")
    b = tokens.mint(KEY, "R-2", "sim-1", NOW + 60).split(".")
    with pytest.raises(TokenError) as err:
        tokens.verify(PUB, f"{a[0]}.{b[1]}.{a[2]}", "sim-1", NOW)
    assert err.value.reason == "forged"


@given(st.text(max_size=300))
def test_random_text_is_refused_never_crashes(text):
    with pytest.raises(TokenError):
        tokens.verify(PUB, text, "sim-1", NOW)
