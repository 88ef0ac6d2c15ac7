"""Money precision and rounding: the one place that decides how amounts are rounded.

Ledger amounts carry six decimal places (telecom usage is priced below a cent). What a
client is asked to pay is rounded half-up to the currency's minor unit. Nothing else in
the code base quantizes money.
"""

import re
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

from djmoney.money import Money
from moneyed import get_currency
from moneyed.classes import CurrencyDoesNotExist

LEDGER_PLACES = 6
LEDGER_QUANTUM = Decimal(1).scaleb(-LEDGER_PLACES)
MAX_DIGITS = 20
# The one ceiling of the books: every amount and every figure an account holds (an
# entry, its balance, unbilled, its holds, so any invoice total) is smaller than 10^13
# in size. The columns (NUMERIC(20, 6)) hold ten times that, so what is derived from
# the figures (amount due = balance − unbilled, a total rounded up to the minor unit)
# always fits too. `ledger.services` refuses a booking that would cross it.
MAX_AMOUNT = Decimal(10) ** (MAX_DIGITS - LEDGER_PLACES - 1)
ZERO = Decimal("0.000000")

# A decimal written with ASCII digits only. Python's Decimal() also reads other scripts'
# digits ("٣", "１") and underscores ("1_0"); an amount must mean the same to every
# system that reads it, so those are refused rather than guessed.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NON_FINITE_TEXT = re.compile(r"[+-]?(?:s?nan[0-9]*|inf|infinity)", re.ASCII | re.IGNORECASE)
_ASCII_SPACE = " \t\r\n"

# ISO 4217 codes that name no money a client holds or pays: precious metals, bond-market
# and settlement units, special drawing rights, the testing and "no currency" codes,
# withdrawn units of account, and the fund codes that stand beside a national currency
# (indexed or next-day units). py-moneyed knows them all, so knowing a code is not enough.
NON_TENDER_CURRENCIES = frozenset(
    {
        *("XXX", "XTS"),  # no currency; testing
        *("XAU", "XAG", "XPD", "XPT"),  # gold, silver, palladium, platinum
        *("XBA", "XBB", "XBC", "XBD"),  # European bond-market units
        *("XDR", "XSU", "XUA"),  # IMF SDR, Sucre, ADB unit of account
        *("XEU", "XFO", "XFU", "XRE"),  # withdrawn units of account
        *("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"),  # fund codes
    }
)


class InvalidAmount(ValueError):
    """An amount that cannot be booked: not a finite number, too precise or too large."""


def to_ledger_amount(value) -> Decimal:
    """Return `value` as a ledger Decimal with exactly six places, refusing anything lossy.

    Floats are refused outright: an amount that went through binary floating point has
    already lost the digits we promise to keep.
    """
    if isinstance(value, float):
        raise InvalidAmount("Amounts must be decimal strings, not floating-point numbers.")
    amount = value if isinstance(value, Decimal) else _parse_decimal(value)
    if not amount.is_finite():
        raise InvalidAmount("Amounts must be finite numbers.")
    if amount.copy_abs() >= MAX_AMOUNT:  # copy_abs: no context, so 1e999999999 cannot overflow
        raise InvalidAmount(f"Amounts must be smaller than {MAX_AMOUNT:,}.")
    quantized = amount.quantize(LEDGER_QUANTUM)
    if quantized != amount:
        raise InvalidAmount(f"Amounts carry at most {LEDGER_PLACES} decimal places.")
    return quantized


def _parse_decimal(value) -> Decimal:
    """A caller's text (or int) as a Decimal, read by the ASCII grammar only."""
    text = str(value).strip(_ASCII_SPACE) if isinstance(value, str | int) else None
    if text is not None and _NON_FINITE_TEXT.fullmatch(text):
        raise InvalidAmount("Amounts must be finite numbers.")
    if text is None or not _DECIMAL_TEXT.fullmatch(text):  # True and None land here too
        raise InvalidAmount(
            f"{value!r} is not a number: write it with the digits 0-9, an optional sign and "
            'one decimal point, such as "12.50" (no spaces, underscores or other digits).'
        )
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # an exponent of more digits than Decimal keeps
        raise InvalidAmount(
            f"{value!r} is out of range: amounts are smaller than {MAX_AMOUNT:,}, "
            f"with at most {LEDGER_PLACES} decimal places."
        ) from exc


def exact(value) -> Decimal:
    """A database aggregate as a ledger Decimal.

    PostgreSQL sums NUMERIC exactly but may widen the scale (an AVG, a division);
    the books compare and store six places.
    """
    return Decimal(value).quantize(LEDGER_QUANTUM)


def currency_places(currency_code: str) -> int:
    """Minor-unit exponent of an ISO 4217 currency (2 for USD, 0 for JPY, 3 for BHD)."""
    sub_unit = get_currency(currency_code).sub_unit or 1
    return len(str(sub_unit)) - 1


def round_to_minor_unit(amount: Decimal, currency_code: str) -> Decimal:
    """Round half-up (away from zero on a tie) to the currency's minor unit."""
    quantum = Decimal(1).scaleb(-currency_places(currency_code))
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def round_up_to_minor_unit(amount: Decimal, currency_code: str) -> Decimal:
    """Round up (toward +infinity) to the minor unit, kept at six places: 6.666667 → 6.670000.

    For money asked of a client through a gateway: what arrives always covers the
    charge it pays for; the remainder stays on the balance.
    """
    quantum = Decimal(1).scaleb(-currency_places(currency_code))
    return amount.quantize(quantum, rounding=ROUND_CEILING).quantize(LEDGER_QUANTUM)


def share(amount: Decimal, part: int, whole: int) -> Decimal:
    """`amount` × part / whole, half-up to the ledger's six places (proration to the day)."""
    if part == whole:
        return Decimal(amount).quantize(LEDGER_QUANTUM)
    return (Decimal(amount) * part / whole).quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_UP)


def currency_refusal(code) -> str | None:
    """Why `code` cannot be the currency of an account, a plan or an amount; None if it can.

    It must be an ISO 4217 code py-moneyed knows (three upper-case ASCII letters) and name
    money clients hold and pay (`NON_TENDER_CURRENCIES` are refused).
    """
    shown = repr(code) if not isinstance(code, str) else f"“{code}”"
    if not (isinstance(code, str) and re.fullmatch(r"[A-Z]{3}", code, re.ASCII)):
        return f"{shown} is not an ISO 4217 currency code (three letters, like USD or EUR)."
    try:
        currency = get_currency(code)
    except CurrencyDoesNotExist:
        return f"{shown} is not an ISO 4217 currency code (like USD or EUR)."
    if code in NON_TENDER_CURRENCIES:
        return (
            f"{code} ({currency.name}) is an ISO 4217 code but not a currency accounts are "
            "kept or paid in; use a national currency such as USD or EUR."
        )
    return None


def is_known_currency(code: str) -> bool:
    """A currency an account, a plan or an amount may be in (see `currency_refusal`)."""
    return currency_refusal(code) is None


def money(amount: Decimal | None, currency_code: str) -> Money | None:
    """A display value; `None` stays `None` (it means "unlimited" for usable credit)."""
    return None if amount is None else Money(amount, currency_code)
