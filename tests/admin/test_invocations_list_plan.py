"""The invocations list's first page is read off an index in its default order, for a superuser too (every
tenant): no sort of all invocations per request (see bench/admin_lists_bench.py for the time it takes)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caching.periods import utc_today
from tests.admin.conftest import page
from tests.caching.stats_data import add_invocation, at

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

URL = "/admin/agents_app/invocation/"


def page_query(client) -> str:
    with CaptureQueriesContext(connection) as queries:
        html = page(client.get(URL))
    assert "results" in html
    order = 'ORDER BY "agents_app_invocation"."queued_at" DESC'
    (sql,) = [q["sql"] for q in queries if order in q["sql"]]
    # A page of a long list is LIMIT 100 (this one fits on one page, so it is read whole).
    return sql if "LIMIT" in sql else f"{sql} LIMIT 100"


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        # A test table is tiny and not analyzed: ask whether an index can serve the order at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}")
        return " | ".join(row[0] for row in cursor.fetchall())


def test_a_superusers_first_page_needs_no_sort_of_every_invocation(client, agent, other_agent):
    for n in range(3):
        add_invocation(agent, at(utc_today(), 1, n), input=10)
        add_invocation(other_agent, at(utc_today(), 2, n), input=10)
    get_user_model().objects.create_superuser("root", password="pw-root-12345")
    client.force_login(get_user_model().objects.get(username="root"))

    shown = plan(page_query(client))

    # No Sort node (a partitioned table's Merge Append names its "Sort Key" while it merges ordered index scans).
    sort_node = re.search(r"(?:^|\|)\s*(?:->\s*)?Sort\s+\(", shown)
    assert "TEMP B-TREE FOR ORDER BY" not in shown and sort_node is None, shown
    assert "queued" in shown, shown  # the (queued_at, id) index
