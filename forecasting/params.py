"""Estimator parameter plumbing shared by the model and the baselines (layer 0).

scikit-learn's contract: the parameters are the ``__init__`` keyword arguments, stored as
attributes of the same names; ``get_params``/``set_params`` read and write them.
"""

from __future__ import annotations

from forecasting.errors import ConfigError


class Params:
    """Mixin giving ``get_params``, ``set_params`` and a readable ``repr`` from ``_PARAMS``.

    Examples
    --------
    >>> class Demo(Params):
    ...     _PARAMS = ("alpha",)
    ...     def __init__(self, *, alpha=1.0):
    ...         self.alpha = alpha
    >>> Demo().set_params(alpha=2.0)
    Demo(alpha=2.0)
    """

    _PARAMS: tuple[str, ...] = ()

    def get_params(self, deep: bool = True) -> dict:
        """The constructor parameters and their current values."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        """Set constructor parameters; an unknown name is a :class:`ConfigError`. Returns ``self``."""
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ConfigError(f"unknown parameter {k!r}; expected one of {list(self._PARAMS)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._PARAMS)
        return f"{type(self).__name__}({args})"
