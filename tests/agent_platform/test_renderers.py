import datetime as dt
import json
import uuid
from decimal import Decimal

from django.utils.translation import gettext_lazy
from rest_framework import renderers

from agent_platform.renderers import JSONRenderer

UTC = dt.UTC

DATA = {
    "when": dt.datetime(2026, 11, 16, 9, 30, 15, 123456, tzinfo=UTC),
    "day": dt.date(2026, 11, 16),
    "at": dt.time(9, 30, 15, 123456),
    "took": dt.timedelta(seconds=1.5),
    "price": Decimal("0.000375"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "label": gettext_lazy("Name"),
    "by_agent": {7: "Support", 8: "Sales"},
    "text": "Grüße·東京\u2028zwei",
    "ratio": 0.666667,
    "items": (1, 2, 3),
    "nothing": None,
}


def test_the_bytes_mean_what_drfs_own_renderer_writes():
    ours = JSONRenderer().render(DATA, "application/json")
    drfs = renderers.JSONRenderer().render(DATA, "application/json")

    assert json.loads(ours) == json.loads(drfs)
    # DRF's datetimes (UTC as Z); the raw line separator escaped for JavaScript.
    assert b'"when":"2026-11-16T09:30:15.123456Z"' in ours
    assert b"\\u2028" in ours
    assert "Grüße·東京".encode() in ours
    assert b" " not in ours  # compact


def test_indented_json_is_drfs():
    context = {"indent": 2}
    ours = JSONRenderer().render(DATA, "application/json; indent=2", context)

    assert ours == renderers.JSONRenderer().render(DATA, "application/json; indent=2", context)
    assert b'\n  "when"' in ours


def test_no_data_is_an_empty_body():
    assert JSONRenderer().render(None) == b""


def test_the_api_answers_through_it(api, agent):
    response = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=7d")

    assert response.status_code == 200
    assert type(response.accepted_renderer) is JSONRenderer
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["agent"]["id"] == agent.pk
