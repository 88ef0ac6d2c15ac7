"""billing_site.money: the one place that parses and rounds amounts."""

from decimal import Decimal

import pytest

from billing_site.money import (
    MAX_AMOUNT,
    InvalidAmount,
    currency_places,
    currency_refusal,
    is_known_currency,
    round_to_minor_unit,
    to_ledger_amount,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", Decimal("1.500000")),
        (" 2.25 ", Decimal("2.250000")),
        (3, Decimal("3.000000")),
        (Decimal("0.000001"), Decimal("0.000001")),
        ("-7.123456", Decimal("-7.123456")),
        ("1e2", Decimal("100.000000")),
    ],
)
def test_to_ledger_amount_keeps_every_digit_with_six_places(value, expected):
    amount = to_ledger_amount(value)
    assert amount == expected
    # Six places exactly, so what is stored is what was asked.
    assert amount.as_tuple().exponent == -6


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.1, "not floating-point"),
        (1.0, "not floating-point"),
        ("abc", "is not a number"),
        ("", "is not a number"),
        (None, "is not a number"),
        ("NaN", "finite"),
        ("sNaN", "finite"),
        ("Infinity", "finite"),
        ("-inf", "finite"),
        (Decimal("NaN"), "finite"),
        ("1e9999", "smaller than"),
        (str(MAX_AMOUNT), "smaller than"),
        (-MAX_AMOUNT, "smaller than"),
        ("0.0000001", "at most 6 decimal places"),
        ("1.1234567", "at most 6 decimal places"),
        ("1e-9999", "at most 6 decimal places"),
        ("1e99999999999999999999999", "out of range"),
        ("1e-99999999999999999999999", "out of range"),
    ],
)
def test_to_ledger_amount_refuses_lossy_or_meaningless_values(value, message):
    with pytest.raises(InvalidAmount, match=message):
        to_ledger_amount(value)


@pytest.mark.parametrize(
    "value",
    [
        "\u0663",  # ARABIC-INDIC DIGIT THREE
        "\uff11",  # FULLWIDTH DIGIT ONE
        "\uff11.\uff15",
        "\u0967\u0966",  # DEVANAGARI 10
        "1_0",
        "1_000.5",
        " 1 0",
        "\u00a05",  # a no-break space before the digit
        "5\u2009",
        "0x10",
    ],
)
def test_to_ledger_amount_refuses_anything_but_ascii_digits(value):
    # Python's Decimal() reads other scripts' digits and underscores; the books do not.
    with pytest.raises(InvalidAmount, match="is not a number"):
        to_ledger_amount(value)


def test_to_ledger_amount_accepts_the_largest_amount_below_the_cap():
    just_below = MAX_AMOUNT - Decimal("0.000001")
    assert to_ledger_amount(str(just_below)) == just_below


@pytest.mark.parametrize(("code", "places"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3)])
def test_currency_places_follow_iso_4217_minor_units(code, places):
    assert currency_places(code) == places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        # Ties go up (away from zero), never to even.
        ("1.005", "USD", "1.01"),
        ("1.015", "USD", "1.02"),
        ("0.125", "USD", "0.13"),
        ("1.004999", "USD", "1.00"),
        ("2.5", "JPY", "3"),
        ("3.5", "JPY", "4"),
        ("2.499999", "JPY", "2"),
        ("1.0005", "BHD", "1.001"),
        ("1.0015", "BHD", "1.002"),
        ("1.000499", "BHD", "1.000"),
        # Negative ties round away from zero too: a credit note mirrors its invoice.
        ("-1.005", "USD", "-1.01"),
        ("-0.125", "USD", "-0.13"),
        ("-2.5", "JPY", "-3"),
        ("-1.0005", "BHD", "-1.001"),
        ("-1.004999", "USD", "-1.00"),
    ],
)
def test_round_to_minor_unit_rounds_half_up_away_from_zero(amount, currency, expected):
    rounded = round_to_minor_unit(Decimal(amount), currency)
    assert rounded == Decimal(expected)
    assert rounded.as_tuple().exponent == -currency_places(currency)


def test_round_to_minor_unit_of_negative_amounts_mirrors_positive_ones():
    for text in ("0.005", "12.345", "99.995", "0.004999"):
        value = Decimal(text)
        assert round_to_minor_unit(-value, "USD") == -round_to_minor_unit(value, "USD")


NON_TENDER = [
    "XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA",
    "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW",
]  # fmt: skip


@pytest.mark.parametrize("code", NON_TENDER)
def test_non_tender_iso_codes_are_not_currencies_money_is_kept_in(code):
    assert not is_known_currency(code)
    assert "not a currency" in currency_refusal(code)


@pytest.mark.parametrize("code", ["QQQ", "usd", "US", "USDX", "", "\uff35SD", "US1"])
def test_codes_py_moneyed_does_not_know_are_refused(code):
    assert not is_known_currency(code)
    assert "ISO 4217" in currency_refusal(code)


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY", "BHD", "GBP", "XOF", "XAF", "XCD", "XPF"])
def test_tender_currencies_are_known(code):
    assert is_known_currency(code)
    assert currency_refusal(code) is None
