"""The Trust page without a browser: fairness panel builders and the model card, with a fake provider."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from dashboards import create_app
from dashboards.pages import trust
from tests.support.fake_provider import FakeProvider

HOSTILE = "<img src=x onerror=alert(1)> [x](javascript:1)"
FAIR = {"model": "lgbm", "n_periods": 10, "n_areas": 2, "threshold": 0.05, "by_share": {"5%": {
    "gini_mean": 0.4, "gini_first": 0.3, "gini_last": 0.5, "hhi_mean": 0.6, "persistence": {"1": 0.9, "4": 0.7},
    "over_attended": [HOSTILE],
    "areas": [{"area": HOSTILE, "flagged_share": 0.8, "incident_share": 0.6, "excess": 0.2, "over_attended": True},
              {"area": "Calm", "flagged_share": 0.2, "incident_share": 0.4, "excess": -0.2, "over_attended": False}]}}}


class _Provider(FakeProvider):
    def backtests(self):
        return [replace(b, metrics={**b.metrics, "fairness": FAIR}) for b in super().backtests()]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    from forecasting.config import load_settings

    app = create_app(load_settings(data_dir=str(tmp_path_factory.mktemp("var"))), _Provider(n_cells=100, seed=1))
    return app.crimecast_context


def test_fairness_builders_known_values():
    frame = trust.fairness_frame(FAIR, "5%")
    assert frame["area"].tolist() == [HOSTILE, "Calm"] and frame["excess"].tolist() == ["+20.0%", "-20.0%"]
    assert frame["over-attended"].tolist() == ["yes", ""]
    fig = trust.fairness_figure(FAIR, "5%")
    assert [t.name for t in fig.data] == ["share of flagged cells", "share of incidents"]
    assert list(fig.data[0].y) == [0.8, 0.2]
    info = trust.fairness_info(FAIR, "5%")
    assert "Gini of the flagged share by area: 0.40" in info and "1 period(s) later 90%" in info
    assert "No backtest with fairness" in trust.fairness_info(None, None)
    assert trust.fairness_frame(None, None).empty and not trust.fairness_figure(None, None).data
    assert "no area layer" in trust.fairness_figure(None, None).layout.annotations[0].text


def test_layout_and_model_card_escape_hostile_text(ctx):
    layout = trust.layout(ctx)
    assert "5%" in str(layout)
    versions = ctx.provider.model_versions()
    md = trust.model_card_markdown(ctx, int(versions["id"].iloc[0]))
    assert "## Intended use" in md and "## Fairness of attention" in md
    assert not re.search(r"(?<!\\)<img|(?<!\\)\]\(", md)
    assert "No model version" in trust.model_card_markdown(ctx, None)


def test_the_page_is_registered(ctx):
    from dashboards.pages import page_modules

    assert trust in page_modules() and trust.PATH == "/trust"
