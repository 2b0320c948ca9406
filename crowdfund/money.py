"""Money as integers in a currency's minor unit; parsing and locale-aware formatting.

Amounts never pass through floats: user input is parsed with Decimal and stored as an
int of minor units (cents, fen; yen have none), formatting goes through Babel.
"""
import re
from decimal import Decimal

from babel.numbers import format_currency
from flask_babel import gettext as _

# ISO 4217 code -> number of digits in the minor unit.
CURRENCY_EXPONENTS = {"USD": 2, "EUR": 2, "GBP": 2, "CNY": 2, "JPY": 0}
CURRENCIES = tuple(CURRENCY_EXPONENTS)
# Every amount column is a 32-bit integer; anything larger would fail in the database.
MAX_MINOR_UNITS = 2_000_000_000
# Digits with an optional decimal part; commas only as thousands separators ("1,250.50"),
# so "12,50" (a European decimal comma) is refused rather than read as 1250.
_AMOUNT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+")


class AmountError(ValueError):
    """Text that is not a valid amount in the given currency."""


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise AmountError(_("Unsupported currency %(code)s.", code=currency)) from None


def parse_amount(text: str, currency: str) -> int:
    """Minor units for a typed amount such as "1,250.50"; raises AmountError for
    anything that is not a non-negative number with at most the currency's decimals."""
    cleaned = (text or "").strip().replace(" ", "").replace("_", "")
    if not cleaned:
        raise AmountError(_("Enter an amount."))
    if not _AMOUNT.fullmatch(cleaned):
        raise AmountError(_("Enter a number, like 1250 or 1250.50."))
    value = Decimal(cleaned.replace(",", ""))
    if value < 0:
        raise AmountError(_("The amount cannot be negative."))
    digits = exponent(currency)
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        if digits == 0:
            raise AmountError(_("%(currency)s amounts have no decimal places.", currency=currency))
        raise AmountError(_("%(currency)s amounts have at most %(digits)d decimal places.",
                                currency=currency, digits=digits))
    if scaled > MAX_MINOR_UNITS:
        raise AmountError(_("The amount can be at most %(amount)s %(currency)s.",
                            amount=f"{to_decimal(MAX_MINOR_UNITS, currency):,}", currency=currency))
    return int(scaled)


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(int(minor)).scaleb(-exponent(currency))


def amount_input(minor: int | None, currency: str) -> str:
    """The plain text a form field shows for an amount (no symbol, no grouping)."""
    if minor is None:
        return ""
    digits = exponent(currency)
    return f"{to_decimal(minor, currency):.{digits}f}"


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    """The amount as the locale writes it, e.g. $1,250.50, ¥3,000, 1.250,50 €."""
    return format_currency(to_decimal(minor, currency), currency, locale=locale)


def percent(part: int, whole: int) -> int:
    """Whole percent of part in whole, rounded down (integer arithmetic)."""
    if whole <= 0:
        return 0
    return part * 100 // whole
