"""Money and energy as exact integers, with Decimal at the edges (never float).

Money is integer fen, a unit price integer 0.0001 yuan/kWh (`price_e4`), energy integer
0.0001 kWh (`kwh_e4`). Amounts are rounded half-up to the fen, once per statement line.
"""
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_E8_PER_FEN = 10 ** 6          # kwh_e4 x price_e4 is in 1e-8 yuan


def parse_decimal(text, places, what):
    """Decimal text -> integer in units of 10**-places; more places than that is an error."""
    if isinstance(text, float):
        raise ValueError("%s must be given as text or Decimal, not float" % what)
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError("bad %s %r: a number such as 120.50" % (what, text)) from None
    if not value.is_finite():
        raise ValueError("bad %s %r: a number such as 120.50" % (what, text))
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError("bad %s %r: at most %d decimal places" % (what, text, places))
    return int(scaled)


def yuan_to_fen(text):
    return parse_decimal(text, 2, "amount")


def price_to_e4(text):
    return parse_decimal(text, 4, "price")


def fen_to_decimal(fen):
    return Decimal(fen).scaleb(-2)


def show_yuan(fen):
    """'-12.30' for -1230 fen (always two decimals)."""
    return "%s" % fen_to_decimal(fen).quantize(Decimal("0.01"))


def show_kwh(kwh_e4, places=2):
    return "%s" % Decimal(kwh_e4).scaleb(-4).quantize(Decimal(1).scaleb(-places),
                                                      rounding=ROUND_HALF_UP)


def show_price(price_e4):
    return "%s" % Decimal(price_e4).scaleb(-4).quantize(Decimal("0.0001"))


def amount_fen(kwh_e4, price_e4):
    """kWh x price, rounded half-up (away from zero) to the fen."""
    product = kwh_e4 * price_e4
    magnitude = (abs(product) + _E8_PER_FEN // 2) // _E8_PER_FEN
    return magnitude if product >= 0 else -magnitude


def to_e4(value, scale):
    """A frozen value (integer, decimal places) as 0.0001 kWh; more than 4 places is refused."""
    if scale > 4:
        raise ValueError("a frozen value with %d decimal places is finer than 0.0001 kWh" % scale)
    return value * 10 ** (4 - scale)
