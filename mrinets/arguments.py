"""Keras-style argument checks shared by layers, ops, masks, networks and data.

Every check raises ``ValueError("Invalid value for argument `x`. Expected .... Received: x=...")``
and returns the normalized value. Pure Python, at the bottom of the package graph.
"""

import numbers


def invalid_argument(name, expected, value):
    """The ValueError every mrinets argument check raises."""
    return ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value!r}")


def is_int(value):
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name, minimum, expected=None):
    """``value`` as an ``int`` >= ``minimum``; ``expected`` words the error (default ``"an integer >= minimum"``)."""
    if not is_int(value) or value < minimum:
        raise invalid_argument(name, expected or f"an integer >= {minimum}", value)
    return int(value)


def check_positive_int(value, name):
    """``value`` as an ``int`` >= 1."""
    return check_int(value, name, 1, "a strictly positive integer")


def check_positive_number(value, name):
    """``value`` as a ``float`` > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise invalid_argument(name, "a strictly positive number", value)
    return float(value)


def check_rank(rank):
    """The number of spatial axes, 1, 2 or 3, as an ``int``."""
    if not is_int(rank) or rank not in (1, 2, 3):
        raise invalid_argument("rank", "1, 2 or 3", rank)
    return int(rank)


def check_number(value, name, minimum, maximum=None, expected=None):
    """``value`` as a ``float`` in ``[minimum, maximum)`` (no upper bound when ``maximum`` is None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not minimum <= value or (
        maximum is not None and not value < maximum
    ):
        bound = f"a number >= {minimum}" if maximum is None else f"a number in [{minimum}, {maximum})"
        raise invalid_argument(name, expected or bound, value)
    return float(value)
