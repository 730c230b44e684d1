"""CSV exports of an agent's invocations and sessions for a period: tenant-scoped, streamed."""

import csv
import io

import pytest

from caching import exports
from tests.caching.stats_data import add_invocation, at, seed_support_agent

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.postgres
def test_invocations_csv_lists_the_periods_invocations_oldest_first(api, agent):
    seeded = seed_support_agent(agent)
    y = seeded.yesterday.isoformat()

    rows = read_csv(api.get(f"/api/agents/{agent.pk}/invocations.csv?from={y}&to={y}"))

    assert [r["status"] for r in rows] == ["succeeded", "succeeded", "succeeded", "failed", "succeeded"]
    first = rows[0]
    assert first["session_id"] == "s1" and first["cache_write_tokens"] == "2000" and first["cache_hit"] == "False"
    assert first["write_premium"] == "0.001500" and first["net_savings"] == "-0.001500"
    assert first["queued_at"] == f"{y}T10:00:00+00:00"
    assert rows[-1]["cache_hit"] == "" and rows[-1]["caching_enabled"] == "False"  # caching off: no hit or miss


@pytest.mark.postgres
def test_sessions_csv_has_one_row_per_session_with_its_cache_use(api, agent):
    seed_support_agent(agent)

    rows = read_csv(api.get(f"/api/agents/{agent.pk}/sessions.csv?period=7d"))

    by_id = {r["session_id"]: r for r in rows}
    assert sorted(by_id) == ["s1", "s2", "s3"]
    s1 = by_id["s1"]
    assert (s1["invocations"], s1["failed_invocations"], s1["first_write_tokens"], s1["later_read_tokens"]) == (
        "3",
        "1",
        "2000",
        "2000",
    )
    assert (s1["efficiency_ratio"], s1["cache_expirations"], s1["cache_expired"]) == ("0.31746", "1", "True")
    assert s1["net_savings"] == "0.002400"


def test_exports_of_another_tenants_agent_are_404_and_never_leak(api, other_api, agent, other_agent):
    seed_support_agent(other_agent)

    for kind in ("invocations", "sessions"):
        assert api.get(f"/api/agents/{other_agent.pk}/{kind}.csv").status_code == 404
        assert other_api.get(f"/api/agents/{agent.pk}/{kind}.csv").status_code == 404
        assert read_csv(api.get(f"/api/agents/{agent.pk}/{kind}.csv?period=7d")) == []


def test_exports_refuse_a_bad_period(api, agent):
    response = api.get(f"/api/agents/{agent.pk}/invocations.csv?period=forever")

    assert response.status_code == 400 and list(response.json()) == ["period"]


def test_exports_stream_in_chunks_with_few_queries(api, agent, django_assert_max_num_queries):
    from agents_app.models import AgentSession, Invocation

    session = AgentSession.objects.create(tenant=agent.tenant, agent=agent, session_id="bulk")
    Invocation.objects.bulk_create(
        Invocation(tenant=agent.tenant, agent=agent, session=session, prompt="p", status="succeeded", input_tokens=n)
        for n in range(5000)
    )

    # Per request: the key's failure counter (a cache read), the key, the agent, then the rows in chunks.
    with django_assert_max_num_queries(10):
        rows = read_csv(api.get(f"/api/agents/{agent.pk}/invocations.csv?period=7d"))
        sessions = read_csv(api.get(f"/api/agents/{agent.pk}/sessions.csv?period=7d"))

    assert len(rows) == 5000 and sessions[0]["invocations"] == "5000"


# A cell a spreadsheet would run as a formula, and what every CSV of the service writes instead: the same text,
# readable, behind an apostrophe (which spreadsheets show as text and do not display).
FORMULAS = {
    "=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
    "+SUM(A1:A9)": "'+SUM(A1:A9)",
    "-2+3": "'-2+3",
    "@SUM(A1)": "'@SUM(A1)",
    "\tTAB": "'\tTAB",
    "\rCR": "'\rCR",
}


@pytest.mark.parametrize(("value", "written"), FORMULAS.items())
def test_cells_that_start_a_formula_are_written_as_text(value, written):
    assert exports.csv_value(value) == written


def test_numbers_and_plain_text_are_written_as_they_are():
    assert [exports.csv_value(v) for v in ("-0.001500", "-12", "plain", "a=b", "", 42)] == [
        "-0.001500",
        "-12",
        "plain",
        "a=b",
        "",
        42,
    ]


def test_exports_neutralise_formulas_in_session_ids(api, agent):
    today = seed_support_agent(agent).today
    add_invocation(agent, at(today, 1), session="=1+2", input=5)
    add_invocation(agent, at(today, 2), session="-3+4", input=5)

    invocations = read_csv(api.get(f"/api/agents/{agent.pk}/invocations.csv?period=7d"))
    sessions = read_csv(api.get(f"/api/agents/{agent.pk}/sessions.csv?period=7d"))

    assert [r["session_id"] for r in invocations][-2:] == ["'=1+2", "'-3+4"]
    assert {"'=1+2", "'-3+4"} <= {r["session_id"] for r in sessions}
    assert "=1+2" not in {r["session_id"] for r in invocations + sessions}
    assert invocations[0]["net_savings"] == "-0.001500"  # a negative amount stays a number


@pytest.mark.parametrize("kind", ["invocations", "sessions"])
def test_exports_refuse_days_past_the_calendars_end(api, agent, kind):
    response = api.get(f"/api/agents/{agent.pk}/{kind}.csv?from=9999-12-30&to=9999-12-31")

    assert response.status_code == 400 and list(response.json()) == ["to"]
