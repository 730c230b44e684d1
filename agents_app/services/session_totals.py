"""Sessions' running totals (`agents_app.sessions`) recomputed from their invocation rows.

The invocation service keeps the totals as each invocation finishes; this
fills them for sessions that existed before the totals did (the migration that
added them calls it), and repairs them should rows ever be changed by hand.
It takes sessions a batch at a time, by primary key, and writes each batch with
one `UPDATE ... FROM` over its invocations summed by session (through the
`(session, queued_at)` index; on PostgreSQL across the monthly partitions):
the database does the work, on SQLite (3.33 and later) and PostgreSQL alike.
"""

from __future__ import annotations

from django.db import connections, transaction

from agents_app.sessions import SESSION_TOTAL_FIELDS, session_totals_sums

BATCH = 2000


def session_totals_refresh(*, session_model=None, invocation_model=None, batch: int = BATCH) -> int:
    """Recompute every session's totals; returns how many sessions it wrote. The models default to the app's
    (a migration passes its historical ones)."""
    if session_model is None or invocation_model is None:
        from agents_app.models import AgentSession, Invocation

        session_model, invocation_model = AgentSession, Invocation
    written, last = 0, 0
    sessions = session_model.objects.order_by("pk").values_list("pk", flat=True)
    while ids := list(sessions.filter(pk__gt=last)[:batch]):
        with transaction.atomic(using=sessions.db):
            _batch_write(session_model, invocation_model, ids)
        written += len(ids)
        last = ids[-1]
    return written


def _batch_write(session_model, invocation_model, ids: list[int]) -> None:
    # Sessions without a finished invocation have no row in the sums: zero the batch first.
    session_model.objects.filter(pk__in=ids).update(**dict.fromkeys(SESSION_TOTAL_FIELDS, 0))
    sums = (
        invocation_model.objects.filter(session_id__in=ids)
        .values("session_id")
        .annotate(**session_totals_sums())
        .order_by()
    )
    sums_sql, params = sums.query.sql_with_params()
    connection = connections[sums.db]
    qn = connection.ops.quote_name
    table = qn(session_model._meta.db_table)
    assignments = ", ".join(f"{qn(name)} = COALESCE(sums.{qn(name)}, 0)" for name in SESSION_TOTAL_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM ({sums_sql}) AS sums WHERE {table}.{qn('id')} = sums.session_id",
            params,
        )
