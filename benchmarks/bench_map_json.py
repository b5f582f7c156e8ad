"""What one map response costs the server to encode: a freshly serialised figure vs the cached JSON fragment.

Builds the risk map of ``--cells`` synthetic cells (cameras and boundaries drawn, as in
``bench_load.py``) and times, per response, what Dash does with a callback's return value
(``dash._utils.to_json`` of ``{"response": {...: {"figure": ...}}}``):

* ``figure, json engine``: a plotly ``Figure`` through the standard-library encoder (no orjson);
* ``figure, orjson engine``: the same ``Figure`` with orjson installed (plotly converts it first);
* ``cached fragment``: :func:`dashboards.figure_cache.encoded` done once, then embedded as it is.

Usage::

    uv run python benchmarks/bench_map_json.py                 # 10,000 cells
    uv run python benchmarks/bench_map_json.py --cells 50000 --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def _time(fn, repeats: int) -> tuple[float, object]:
    out = fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic city is test support
    import orjson
    from plotly.io.json import to_json_plotly

    from dashboards import figures
    from dashboards.figure_cache import encoded
    from tests.support.fake_provider import FakeProvider  # noqa: E402

    p = FakeProvider(n_cells=args.cells)
    t = time.perf_counter()
    fig = figures.risk_map_figure(p.forecast(1), crs=p.CRS, cameras=p.cameras(), boundaries=p.boundaries(),
                                  layers=["cameras", "boundaries"], title="Week of 3 June")
    build = (time.perf_counter() - t) * 1000

    def response(value):
        return {"multi": True, "response": {"risk-map": {"figure": value}, "map-status": {"children": "ok"}}}

    rows = []
    ms, out = _time(lambda: to_json_plotly(response(fig), engine="json"), args.repeats)
    rows.append(("figure, json engine", ms, len(out)))
    ms, out = _time(lambda: to_json_plotly(response(fig), engine="orjson"), args.repeats)
    rows.append(("figure, orjson engine", ms, len(out)))
    once, frag = _time(lambda: encoded(fig), 1)
    ms, out = _time(lambda: to_json_plotly(response(frag), engine="orjson"), args.repeats)
    rows.append(("cached fragment", ms, len(out)))
    same = orjson.loads(out) == orjson.loads(to_json_plotly(response(fig), engine="orjson"))
    print(f"{args.cells:,} cells: figure built in {build:.0f} ms; encoded once in {once:.0f} ms; "
          f"fragment response equals a fresh one: {same}")
    print(f"{'per response':<24}{'median ms':>10}{'bytes':>12}")
    for name, ms, n in rows:
        print(f"{name:<24}{ms:>10.2f}{n:>12,}")


if __name__ == "__main__":
    main()
