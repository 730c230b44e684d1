"""The sessions and invocations lists sorted by cost read their first page off the cost index (the same
expression as the sort, `agents_app.models.COST_SUM`), for a superuser too: no sort of every row per request
(see bench/admin_lists_bench.py for the time it takes). Ties on cost are ordered by the next column, which a
database may sort among the tied rows only."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caching.periods import utc_today
from tests.admin.conftest import page
from tests.admin.test_invocations_list_plan import plan
from tests.admin.test_spend_columns import sort_link
from tests.caching.stats_data import add_invocation, at

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def sorted_page_query(client, url: str, column: str, table: str, descending: bool) -> str:
    link = sort_link(page(client.get(url)), column)
    with CaptureQueriesContext(connection) as queries:
        page(client.get(url + (link.replace("o=", "o=-") if descending else link)))
    order = f'ORDER BY ("{table}"."cost_with_cache" + "{table}"."output_cost")'
    (sql,) = [q["sql"] for q in queries if order in q["sql"]]
    return sql if "LIMIT" in sql else f"{sql} LIMIT 100"


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    ("url", "column", "table", "index"),
    [
        ("/admin/agents_app/agentsession/", "session_cost", "agents_app_agentsession", "session_cost_idx"),
        ("/admin/agents_app/invocation/", "invocation_cost", "agents_app_invocation", "invocation_cost_idx"),
    ],
)
def test_sorted_by_cost_the_first_page_is_read_off_the_cost_index(
    client, agent, other_agent, url, column, table, index, descending
):
    for n in range(3):
        add_invocation(agent, at(utc_today(), 1, n), session=f"a{n}", input=10 * n, output=n)
        add_invocation(other_agent, at(utc_today(), 2, n), session=f"b{n}", input=20 * n)
    get_user_model().objects.create_superuser("root", password="pw-root-12345")
    client.force_login(get_user_model().objects.get(username="root"))

    shown = plan(sorted_page_query(client, url, column, table, descending))

    if connection.vendor == "sqlite":
        assert f"USING INDEX {index}" in shown and "TEMP B-TREE FOR ORDER BY" not in shown, shown
    else:  # index scans in cost order (a partitioned table's partitions name the index their own way), at most
        # an Incremental Sort of the ties; no Sort node over every row
        sort_node = re.search(r"(?:^|\|)\s*(?:->\s*)?Sort\s+\(", shown)
        assert "Index Scan" in shown and "Seq Scan" not in shown and sort_node is None, shown
