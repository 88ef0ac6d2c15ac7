"""Money precision and rounding: the one place that decides how amounts are rounded.

Ledger amounts carry six decimal places (telecom usage is priced below a cent). What a
client is asked to pay is rounded half-up to the currency's minor unit. Nothing else in
the code base quantizes money.
"""

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

from djmoney.money import Money
from moneyed import get_currency
from moneyed.classes import CurrencyDoesNotExist

LEDGER_PLACES = 6
LEDGER_QUANTUM = Decimal(1).scaleb(-LEDGER_PLACES)
# Up to 10^13 in the currency unit: far above any one account's turnover, and small
# enough that a sum of a few million entries still fits NUMERIC(20, 6).
MAX_DIGITS = 20
MAX_AMOUNT = Decimal(10) ** (MAX_DIGITS - LEDGER_PLACES - 1)
ZERO = Decimal("0.000000")


class InvalidAmount(ValueError):
    """An amount that cannot be booked: not a finite number, too precise or too large."""


def to_ledger_amount(value) -> Decimal:
    """Return `value` as a ledger Decimal with exactly six places, refusing anything lossy.

    Floats are refused outright: an amount that went through binary floating point has
    already lost the digits we promise to keep.
    """
    if isinstance(value, float):
        raise InvalidAmount("Amounts must be decimal strings, not floating-point numbers.")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise InvalidAmount(f"{value!r} is not a number.") from exc
    if not amount.is_finite():
        raise InvalidAmount("Amounts must be finite numbers.")
    if abs(amount) >= MAX_AMOUNT:
        raise InvalidAmount(f"Amounts must be smaller than {MAX_AMOUNT:,}.")
    quantized = amount.quantize(LEDGER_QUANTUM)
    if quantized != amount:
        raise InvalidAmount(f"Amounts carry at most {LEDGER_PLACES} decimal places.")
    return quantized


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


def is_known_currency(code: str) -> bool:
    try:
        get_currency(code)
    except CurrencyDoesNotExist:
        return False
    return len(code) == 3 and code.isalpha() and code.isupper()


def money(amount: Decimal | None, currency_code: str) -> Money | None:
    """A display value; `None` stays `None` (it means "unlimited" for usable credit)."""
    return None if amount is None else Money(amount, currency_code)
