"""A small cache of built figures shared by the users of one dashboard, and their JSON encoded once.

A stored forecast run never changes (runs are immutable), so its map, for one measure, layer set
and selected cell, is the same figure for every user: building it once instead of per request
takes the plotly construction, the camera read and the run lookup off the map callback.
:func:`encoded` goes one step further: the figure is turned into JSON once, and every response
embeds that text (serialising a 10,000-cell map took ~40 ms per request, measured in
``docs/dashboard.md``). Keys are plain tuples, so a new dimension (a viewport, a user's
permissions) is one more element of the key.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import orjson


class FigureCache:
    """Thread-safe LRU cache with a time limit per entry.

    Parameters
    ----------
    size : int, default 64
        Entries kept (least recently used dropped first).
    ttl : float, default 60
        Seconds an entry is served before it is rebuilt (``float("inf")``: never, for values that
        cannot change, such as a stored run's frames).

    Examples
    --------
    >>> cache = FigureCache(size=2, ttl=60)
    >>> cache.get_or(("run", 1), lambda: "built")
    'built'
    >>> cache.get_or(("run", 1), lambda: "rebuilt")
    'built'
    """

    def __init__(self, size: int = 64, ttl: float = 60.0) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get_or(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The cached value of ``key``, or ``make()`` stored under it (built once when many ask at once)."""
        hit = self._fresh(key)
        if hit is not None:
            return hit[1]
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # fifty users opening the same new run build its figure once, not fifty times
            hit = self._fresh(key)
            if hit is not None:
                return hit[1]
            value = make()
            with self._lock:
                self._items[key] = (time.monotonic(), value)
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._building.pop(key, None)
            return value

    def forget(self, key: Hashable) -> None:
        """Drop ``key`` (a value that must not be served again, such as a missing run)."""
        with self._lock:
            self._items.pop(key, None)

    def _fresh(self, key):
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                self._items.move_to_end(key)
                return hit
        return None


def encoded(value: Any) -> orjson.Fragment:
    """``value`` (a figure, components, any callback output) as the JSON Dash would send, encoded once.

    Dash serialises callback responses with ``plotly.io.json.to_json_plotly``, which uses orjson
    (a dependency of this project) and embeds an :class:`orjson.Fragment` as it is. The text is
    made here by the same function, so it is byte for byte what Dash would have sent, already
    HTML-safe (``<``, ``>``, ``/`` escaped), and a cached figure costs no encoding per request.

    Parameters
    ----------
    value : object
        A plotly figure, a Dash component (or list of them), or plain JSON data.

    Returns
    -------
    orjson.Fragment
        Read it back with ``orjson.loads(orjson.dumps(fragment))``.

    Examples
    --------
    >>> import plotly.graph_objects as go
    >>> frag = encoded(go.Figure(go.Bar(y=[1, 2])))
    >>> orjson.loads(orjson.dumps({"figure": frag}))["figure"]["data"][0]["y"]
    [1, 2]
    """
    from plotly.io.json import to_json_plotly

    return orjson.Fragment(to_json_plotly(value, engine="orjson"))


def decoded(fragment: orjson.Fragment) -> Any:
    """The plain JSON data of an :func:`encoded` value (for tests and checks)."""
    return orjson.loads(orjson.dumps(fragment))
