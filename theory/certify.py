"""A cheap, rigorous certificate that a derived expression is not identically zero.

The derivations decide "is this coefficient zero?" without ``simplify`` (slow and
heuristic): an exact normal form (``cancel``/``together`` + ``expand``) shows that an
expression *is* zero; :func:`nonzero_at_a_rational_point` shows that it is *not*, by a
finite non-zero value at a rational point.  An expression that is neither is reported
as undecided by the caller (an error), never guessed.
"""

import sympy as sp

__all__ = ["nonzero_at_a_rational_point"]


def nonzero_at_a_rational_point(expr, attempts=5, digits=30):
    """True if ``expr`` has a finite value ≠ 0 at one of ``attempts`` rational points.

    The free symbols (sorted by name) get distinct rationals in (0, 1) (so positive
    symbols stay in their domain); the value is evaluated to ``digits`` significant
    digits and must exceed 1e-20 in magnitude, far above the evaluation error.  True
    proves ``expr`` ≢ 0; False proves nothing.

    Examples
    --------
    >>> from sympy.abc import a, b
    >>> nonzero_at_a_rational_point(a - b)
    True
    >>> nonzero_at_a_rational_point((a + b)**2 - a**2 - 2*a*b - b**2)
    False
    """
    symbols = sorted(expr.free_symbols, key=str)
    for attempt in range(1, attempts + 1):
        point = {symbol: sp.Rational(2 * k + attempt, 7 * k + 2 * attempt + 3)
                 for k, symbol in enumerate(symbols, start=1)}
        value = expr.subs(point).evalf(digits)
        if value.is_number and value.is_finite and value.is_zero is False \
                and abs(value) > 1e-20:
            return True
    return False
