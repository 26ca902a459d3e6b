"""Danish identifiers (CPR, CVR) and our own stable letter ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from datetime import date

# The one CPR recogniser (issue 17): DDMMYY then SSSS, with at most a few separators between
# the 2-2-2-4 groups: spaces of any kind, dots, slashes, hyphens and the Unicode dashes
# (U+2010-2015 incl. the non-breaking U+2011, minus U+2212, small/fullwidth hyphen-minus),
# and invisible joiners. So "0101901234", "010190-1234", "010190 1234", "0101 90 1234",
# "01.01.90-1234", "01 01 90 1234" all match; ``\d`` also matches non-ASCII digits, and
# the text is searched again after NFKC normalisation (fullwidth, compatibility forms).
_SEP = "[\\s./\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d\u00ad\u200b-\u200d\u2060\ufeff]{0,3}"
CPR_SHAPE = re.compile(rf"(?<!\d)(\d\d){_SEP}(\d\d){_SEP}(\d\d){_SEP}(\d{{4}})(?!\d)")
_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)


def normalize_cpr(value: str) -> str:
    """``DDMMYY-SSSS`` or ``DDMMYYSSSS`` to ten digits (the format is checked separately)."""
    if len(value) == 11 and value[6] == "-":
        return value[:6] + value[7:]
    return value


def cpr_problem(value: str) -> str | None:
    """Why ``value`` is not a CPR number, or None. No modulus-11 check: dropped in 2007."""
    digits = normalize_cpr(value)
    if not (len(digits) == 10 and digits.isascii() and digits.isdigit()):
        return "must be 10 digits (DDMMYYSSSS, optionally DDMMYY-SSSS)"
    if cpr_birth_date(digits) is None:
        return "the first six digits are not a valid date of birth"
    return None


def cpr_birth_date(digits: str) -> date | None:
    day, month, yy, seventh = int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6])
    century = _century(seventh, yy)
    try:
        return date(century + yy, month, day)
    except ValueError:
        return None


def _century(seventh: int, yy: int) -> int:
    # CPR-kontoret's table: the 7th digit and the year decide the century.
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def _digits(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", "".join(match.groups()))


def _is_cpr(match: re.Match[str]) -> bool:
    digits = _digits(match)
    return digits.isascii() and cpr_birth_date(digits) is not None


def looks_like_cpr(text: str) -> bool:
    """True if ``text`` contains something shaped like a CPR number with a valid date, in
    any of the spellings above, before or after NFKC normalisation."""
    return any(_is_cpr(m) for m in CPR_SHAPE.finditer(text)) or any(
        _is_cpr(m) for m in CPR_SHAPE.finditer(unicodedata.normalize("NFKC", text)))


def mask_cpr(text: str, mask: str) -> str:
    """``text`` with every CPR number replaced by ``mask``. Masked in place where the
    original text matches; if only the NFKC form reveals one, the normalised text is
    masked (a log line then reads normalised, which is a small price)."""
    def replace(match: re.Match[str]) -> str:
        return mask if _is_cpr(match) else match[0]

    masked = CPR_SHAPE.sub(replace, text)
    normal = unicodedata.normalize("NFKC", masked)
    return CPR_SHAPE.sub(replace, normal) if looks_like_cpr(normal) else masked


def cvr_problem(value: str) -> str | None:
    if not (len(value) == 8 and value.isascii() and value.isdigit()):
        return "must be 8 digits"
    if value[0] == "0":
        return "must not start with 0"
    if sum(int(d) * w for d, w in zip(value, _CVR_WEIGHTS, strict=True)) % 11:
        return "fails the modulus-11 check"
    return None


def letter_id(*parts: str) -> str:
    """A stable letter id derived from what planned it: the same event plans the same id.

    Formatted as a UUID with version-4 and RFC 4122 variant bits, as MeMo's messageUUID
    requires, so the id doubles as the Digital Post message id on every retry.
    """
    digest = bytearray(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))
