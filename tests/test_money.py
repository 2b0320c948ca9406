"""Money: typed amounts become integers of minor units; Babel formats them per locale."""
from decimal import Decimal

import pytest

from crowdfund.money import (
    MAX_MINOR_UNITS, AmountError, amount_input, exponent, format_money, parse_amount, percent, to_decimal,
)


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "CNY"])
def test_amount_with_grouping_and_cents_becomes_minor_units(currency):
    assert parse_amount("1,250.50", currency) == 125050


@pytest.mark.parametrize("text, minor", [
    ("1250", 125000), ("1250.5", 125050), ("0.07", 7), (".5", 50), (" 12 ", 1200), ("1,000,000", 100000000),
])
def test_usd_amounts_in_the_forms_people_type(text, minor):
    assert parse_amount(text, "USD") == minor


def test_yen_have_no_minor_unit():
    assert parse_amount("3000", "JPY") == 3000
    assert parse_amount("3,000", "JPY") == 3000


def test_yen_with_decimals_is_refused():
    with pytest.raises(AmountError, match="JPY amounts have no decimal places"):
        parse_amount("3000.5", "JPY")


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "CNY"])
def test_more_decimals_than_the_currency_has_are_refused(currency):
    with pytest.raises(AmountError, match="at most 2 decimal places"):
        parse_amount("12.345", currency)


def test_negative_amount_is_refused():
    with pytest.raises(AmountError, match="cannot be negative"):
        parse_amount("-5", "USD")


@pytest.mark.parametrize("text", [
    "abc", "12abc", "1.2.3", "--5", "0x10", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e3", "1E-2",
    "$12", "12,50", "1,2345",
])
def test_text_that_is_not_a_plain_number_is_refused(text):
    with pytest.raises(AmountError, match="Enter a number"):
        parse_amount(text, "USD")


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_amount_is_refused(text):
    with pytest.raises(AmountError, match="Enter an amount"):
        parse_amount(text, "USD")


def test_amount_beyond_what_the_database_can_hold_is_refused():
    assert parse_amount("20,000,000.00", "USD") == MAX_MINOR_UNITS
    with pytest.raises(AmountError, match="at most 20,000,000.00 USD"):
        parse_amount("20,000,000.01", "USD")
    with pytest.raises(AmountError, match="at most 2,000,000,000 JPY"):
        parse_amount("99999999999999999999", "JPY")


def test_unknown_currency_is_refused():
    with pytest.raises(AmountError, match="Unsupported currency"):
        parse_amount("10", "XYZ")


def test_parsing_is_exact_where_floats_are_not():
    # 0.1 + 0.2 != 0.3 in binary floating point; in minor units it is exact.
    amounts = [parse_amount(text, "USD") for text in ("0.10", "0.20", "1,250.50", "19.99")]
    assert all(type(amount) is int for amount in amounts)
    assert amounts[0] + amounts[1] == parse_amount("0.30", "USD")
    assert parse_amount("1234567.89", "USD") == 123456789


def test_minor_units_convert_back_to_exact_decimals():
    assert to_decimal(125050, "USD") == Decimal("1250.50")
    assert to_decimal(3000, "JPY") == Decimal("3000")
    assert isinstance(to_decimal(1, "EUR"), Decimal)
    assert exponent("JPY") == 0 and exponent("CNY") == 2


def test_form_input_shows_the_amount_without_symbol_or_grouping():
    assert amount_input(125050, "USD") == "1250.50"
    assert amount_input(3000, "JPY") == "3000"
    assert amount_input(None, "USD") == ""
    assert parse_amount(amount_input(125050, "EUR"), "EUR") == 125050


@pytest.mark.parametrize("minor, currency, expected", [
    (125050, "USD", "$1,250.50"),
    (3000, "JPY", "¥3,000"),
    (125050, "GBP", "£1,250.50"),
    (125050, "EUR", "€1,250.50"),
    (125050, "CNY", "CN¥1,250.50"),
    (5, "USD", "$0.05"),
    (0, "USD", "$0.00"),
])
def test_money_is_formatted_by_babel_for_english(minor, currency, expected):
    assert format_money(minor, currency, "en") == expected


def test_money_follows_the_locale():
    assert format_money(125050, "EUR", "de") == "1.250,50\xa0€"
    assert format_money(125050, "CNY", "zh_Hans_CN") == "¥1,250.50"


def test_percent_is_whole_and_rounded_down():
    assert percent(2999, 10000) == 29
    assert percent(15000, 10000) == 150
    assert percent(5, 0) == 0
