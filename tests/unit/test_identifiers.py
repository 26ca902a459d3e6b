"""CPR and CVR validation, CPR detection in free text, and deterministic letter ids."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from notifier.identifiers import (
    cpr_birth_date,
    cpr_problem,
    cvr_problem,
    letter_id,
    looks_like_cpr,
    normalize_cpr,
)

# --- CPR ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0101901234", "010190-1234", "3112995678", "2902005234"])
def test_valid_cpr(value: str) -> None:
    """Well-formed CPR numbers with a real date of birth have no problem."""
    assert cpr_problem(value) is None


def test_normalize_cpr_drops_the_dash() -> None:
    """DDMMYY-SSSS normalises to ten digits; ten digits are unchanged."""
    assert normalize_cpr("010190-1234") == "0101901234"
    assert normalize_cpr("0101901234") == "0101901234"


@pytest.mark.parametrize(
    "value",
    [
        "3213991234",  # day 32, month 13
        "3102901234",  # 31 February
        "0013901234",  # day 0, month 13
        "0100901234",  # month 0
        "2902001234",  # 29 Feb 1900 (7th digit 1 → 1900, not a leap year)
        "2902014234",  # 29 Feb 2001 (not a leap year)
    ],
)
def test_cpr_with_impossible_birth_date(value: str) -> None:
    """A CPR number whose first six digits are not a real date is refused as such."""
    assert cpr_problem(value) == "the first six digits are not a valid date of birth"


@pytest.mark.parametrize(
    "value",
    [
        "01019O1234",  # letter O
        "010190123",  # 9 digits
        "01019012345",  # 11 digits
        "010190-12345",
        "010190 1234",
        # An 11-character value is only valid with the dash after DDMMYY:
        "0101-901234",
        "01019012-34",
        "-0101901234",
        "0101901234-",
        "01-0190-1234",
        "０１０１９０１２３４",  # full-width digits: isdigit() but not ASCII
        "",
        "010190–1234",  # en dash
    ],
)
def test_cpr_not_ten_digits(value: str) -> None:
    """Anything other than ten ASCII digits (optionally DDMMYY-SSSS) is refused."""
    assert cpr_problem(value) == "must be 10 digits (DDMMYYSSSS, optionally DDMMYY-SSSS)"


@pytest.mark.parametrize(
    ("value", "born"),
    [
        # 7th digit 0-3: always 1900-1999
        ("0101100234", date(1910, 1, 1)),
        ("0101993234", date(1999, 1, 1)),
        ("0101002234", date(1900, 1, 1)),
        # 7th digit 4 and 9: 00-36 → 2000s, 37-99 → 1900s
        ("0101364234", date(2036, 1, 1)),
        ("0101374234", date(1937, 1, 1)),
        ("0101009234", date(2000, 1, 1)),
        ("0101369234", date(2036, 1, 1)),
        ("0101379234", date(1937, 1, 1)),
        # 7th digit 5-8: 00-57 → 2000s, 58-99 → 1800s
        ("0101575234", date(2057, 1, 1)),
        ("0101585234", date(1858, 1, 1)),
        ("0101106234", date(2010, 1, 1)),
        ("0101997234", date(1899, 1, 1)),
        ("0101578234", date(2057, 1, 1)),
        ("0101588234", date(1858, 1, 1)),
        # the century decides leap years: 29 Feb 2000 exists, 29 Feb 1900 does not
        ("2902005234", date(2000, 2, 29)),
    ],
)
def test_cpr_century_table(value: str, born: date) -> None:
    """The 7th digit and the year give the century (CPR-kontoret's table)."""
    assert cpr_birth_date(value) == born


# --- CVR ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["12345674", "29189366"])
def test_valid_cvr(value: str) -> None:
    """CVR numbers passing modulus 11 (weights 2,7,6,5,4,3,2,1) are valid."""
    assert cvr_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("12345678", "fails the modulus-11 check"),  # weighted sum 114
        ("29189367", "fails the modulus-11 check"),
        ("01234567", "must not start with 0"),
        ("01234560", "must not start with 0"),  # passes mod 11 (sum 77) but leading zero
        ("1234567", "must be 8 digits"),
        ("123456740", "must be 8 digits"),
        ("1234567a", "must be 8 digits"),
        ("１２３４５６７４", "must be 8 digits"),
        ("", "must be 8 digits"),
    ],
)
def test_invalid_cvr(value: str, problem: str) -> None:
    """Invalid CVR numbers are refused with the specific reason."""
    assert cvr_problem(value) == problem


# --- letter ids --------------------------------------------------------------------------


def test_letter_id_is_deterministic() -> None:
    """The same parts always give the same id (retries reuse the MeMo message id)."""
    assert letter_id("SDP-1", "evt-1", "decision") == letter_id("SDP-1", "evt-1", "decision")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("SDP-1", "evt-1", "decision"), ("SDP-1", "evt-2", "decision")),
        (("SDP-1", "evt-1", "decision"), ("SDP-2", "evt-1", "decision")),
        (("SDP-1", "evt-1", "decision"), ("SDP-1", "evt-1", "information_form")),
        (("ab", "c"), ("a", "bc")),  # the separator keeps part boundaries apart
        (("a",), ("a", "")),
    ],
)
def test_letter_id_differs_for_different_parts(
    a: tuple[str, ...], b: tuple[str, ...]
) -> None:
    """Different parts give different ids."""
    assert letter_id(*a) != letter_id(*b)


@pytest.mark.parametrize("parts", [("SDP-1", "evt-1", "decision"), ("x",), ("æøå", "ÆØÅ")])
def test_letter_id_is_uuid4_rfc4122(parts: tuple[str, ...]) -> None:
    """The id is a canonical UUID string with version 4 and the RFC 4122 variant."""
    text = letter_id(*parts)
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert len(text) == 36
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert text[14] == "4"
    assert text[19] in "89ab"


def test_letter_id_known_value() -> None:
    """Pinned value: the derivation must not change between releases (stored ids)."""
    # sha256(b"SDP-1\x1fevt-1\x1fdecision")[:16] = 5ed4f323 d86d 0133 2411 ba210b9cdf23;
    # byte 6: 0x01 -> 0x41 (version 4), byte 8: 0x24 -> 0xa4 (RFC 4122 variant).
    assert letter_id("SDP-1", "evt-1", "decision") == "5ed4f323-d86d-4133-a411-ba210b9cdf23"


# --- CPR in free text --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "tekst 010190-1234 mere",
        "0101901234",
        "cpr:0101901234.",
        "sag-0101901234",
        "SDP_010190-1234_x",
    ],
)
def test_looks_like_cpr_finds_cpr(text: str) -> None:
    """A CPR-shaped number with a valid date of birth is found inside text."""
    assert looks_like_cpr(text)


@pytest.mark.parametrize(
    "text",
    [
        "12345678901",  # 11 digits: not a CPR
        "3213991234",  # no valid date
        "010190-12345",  # too many serial digits
        "1010190-1234",  # too many date digits
        "SDP-2026-0042",
        "tekst uden tal",
        "",
    ],
)
def test_looks_like_cpr_ignores_non_cpr(text: str) -> None:
    """Digit runs of the wrong length or with an impossible date are not flagged."""
    assert not looks_like_cpr(text)
