"""Estimator parameter plumbing shared by the model and the baselines (layer 0).

scikit-learn's contract: the parameters are the ``__init__`` keyword arguments, stored as
attributes of the same names. :class:`Params` builds on scikit-learn's ``BaseEstimator``, which
reads the parameter list from the ``__init__`` signature, so ``get_params``, ``set_params`` and
``sklearn.base.clone`` can never disagree with the constructor. Each estimator declares what its
parameters accept in ``_CONSTRAINTS``; ``fit`` calls :meth:`Params._validate_params`.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

from sklearn.base import BaseEstimator

from forecasting.errors import ConfigError

#: A parameter's check and the words for what it expects ("a positive whole number").
Constraint = tuple[Callable[[Any], bool], str]


def is_int(v) -> bool:
    """A whole number (numpy's included), not a bool."""
    return isinstance(v, Integral) and not isinstance(v, bool)


def is_number(v) -> bool:
    """A real number (numpy's included), not a bool."""
    return isinstance(v, Real) and not isinstance(v, bool)


def positive_int(unit: str = "", *, none: bool = False) -> Constraint:
    """A whole number > 0 (or None when ``none``); ``unit`` names what it counts ("days")."""
    return ((lambda v: (none and v is None) or (is_int(v) and v > 0)),
            "a positive whole number" + (f" of {unit}" if unit else "") + (" or None" if none else ""))


def non_negative_int() -> Constraint:
    """A whole number >= 0."""
    return (lambda v: is_int(v) and v >= 0), "a whole number >= 0"


def positive_number(unit: str = "") -> Constraint:
    """A number > 0."""
    return (lambda v: is_number(v) and v > 0), f"a positive number{' of ' + unit if unit else ''}"


def number_in(lo: float, hi: float, *, low_open: bool = False) -> Constraint:
    """A number in ``[lo, hi]`` (``(lo, hi]`` when ``low_open``)."""
    return ((lambda v: is_number(v) and (lo < v if low_open else lo <= v) and v <= hi),
            f"a number in {'(' if low_open else '['}{lo:g}, {hi:g}]")


def instance_of(*types: type, what: str) -> Constraint:
    """An instance of one of ``types`` (``None`` allowed when ``type(None)`` is given)."""
    return (lambda v: isinstance(v, types) and not (bool not in types and isinstance(v, bool))), what


class Params(BaseEstimator):
    """scikit-learn's ``BaseEstimator`` with this package's error vocabulary and ``repr``.

    Examples
    --------
    >>> class Demo(Params):
    ...     _CONSTRAINTS = {"alpha": positive_number()}
    ...     def __init__(self, *, alpha=1.0):
    ...         self.alpha = alpha
    >>> Demo().set_params(alpha=2.0)
    Demo(alpha=2.0)
    >>> Demo(alpha=-1)._validate_params()
    Traceback (most recent call last):
    ...
    forecasting.errors.ConfigError: alpha must be a positive number; got -1
    """

    #: Parameter name -> :data:`Constraint`; every ``__init__`` parameter has one (tested).
    _CONSTRAINTS: dict[str, Constraint] = {}

    def set_params(self, **params):
        """Set constructor parameters; an unknown name is a :class:`ConfigError`. Returns ``self``."""
        names = list(self.get_params(deep=False))
        for k in params:
            if k not in names:
                raise ConfigError(f"unknown parameter {k!r}; expected one of {names}")
        return super().set_params(**params)

    def _validate_params(self) -> None:
        """Raise :class:`ConfigError` naming the first parameter its constraint rejects."""
        for name, value in self.get_params(deep=False).items():
            check, expected = self._CONSTRAINTS.get(name, (None, ""))
            if check is not None and not check(value):
                raise ConfigError(f"{name} must be {expected}; got {value!r}")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"
