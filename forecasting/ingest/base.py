"""The adapter protocol: one module per source format implements it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import pandas as pd

from forecasting.errors import InputError


@dataclass(frozen=True)
class AdapterOptions:
    """Options an adapter may use; most sources need none of them."""

    tz: str | None = None
    crs: str | None = None
    date_format: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    default_category: str | None = None


def match_layout(header: list[str], layouts, *, what: str, formats) -> int:
    """Index of the first layout whose columns are all in ``header``; InputError naming them otherwise.

    Examples
    --------
    >>> match_layout(["a", "b", "c"], (("x",), ("a", "b")), what="format 'demo'", formats=["demo"])
    1
    """
    present = set(header)
    for i, cols in enumerate(layouts):
        if set(cols) <= present:
            return i
    wanted = " or ".join(str(list(c)) for c in layouts)
    shown = header if len(header) <= 12 else [*header[:12], "..."]
    raise InputError(
        f"{what} needs columns {wanted}; the file has {shown}. "
        f"Check --format (formats: {', '.join(sorted(formats))})"
    )


class IncidentAdapter:
    """Turns raw text rows of one source format into canonical incident columns.

    Subclasses set the class attributes and implement :meth:`convert`, which returns a
    frame on the same index with ``source_id`` (str or NA), ``occurred_naive`` (naive local
    datetime, NaT when unparseable), ``time_resolution``, ``longitude``, ``latitude``,
    ``source_x``, ``source_y``, ``category`` and optionally ``address`` (the block or street as
    published; None when the source has none); plus the names of the raw columns consumed
    (the rest are kept as attributes).
    """

    name: ClassVar[str]
    tz: ClassVar[str | None] = None
    source_crs: ClassVar[str] = "EPSG:4326"
    #: Each alternative is a set of columns a layout of this source must have.
    layouts: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def __init__(self, options: AdapterOptions | None = None) -> None:
        self.options = options or AdapterOptions()

    def layout(self, header: list[str]) -> int:
        """Index of the first layout whose columns are all in ``header``, else InputError."""
        return match_layout(header, self.layouts, what=f"format {self.name!r}",
                            formats=("canonical", "chicago", "sf", "vancouver", "policeuk", "generic"))

    def timezone(self) -> str | None:
        return self.options.tz or self.tz

    def with_default_tz(self, tz: str) -> IncidentAdapter:
        """This adapter, with ``tz`` as its time zone unless it already has one."""
        if self.timezone():
            return self
        return type(self)(replace(self.options, tz=tz))

    def convert(self, raw: pd.DataFrame, layout: int) -> tuple[pd.DataFrame, list[str]]:
        raise NotImplementedError
