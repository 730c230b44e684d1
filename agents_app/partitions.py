"""The invocations table by month on PostgreSQL: declarative range partitions of `queued_at`.

Why: at a hundred million invocations a month the table outgrows what one
index can serve comfortably, and old months are what an operator archives.
Every reporting read names a `queued_at` range (the planner skips other
months' partitions), and the rollups keep an archived month's figures.

Shape: `agents_app_invocation` is partitioned by `RANGE (queued_at)` with one
partition per UTC month, `agents_app_invocation_pYYYY_MM`, and a default
partition `agents_app_invocation_pdefault` for rows outside them (a far
backdated import). PostgreSQL requires the partition key in every unique
constraint, so the primary key is `(id, queued_at)`; ids still come from one
identity sequence, so `id` stays unique and Django keeps addressing rows by it.
For the same reason no foreign key may point at the table (nothing does:
`tests/agents_app/test_partitions.py` checks every model), and a model that
needs to refer to an invocation stores its id with `db_constraint=False`.

On SQLite none of this applies: every function here is a no-op there.

- `invocations_table_partition` / `invocations_table_unpartition`: the
  migration's two directions, rebuilding the table with its rows, ids,
  indexes, check and foreign-key constraints (their names kept).
- `invocation_partitions_ensure`: creates the coming months' partitions (beat,
  daily), moving any rows the default partition already holds for them.
- `invocation_partition_detach`: detaches a closed, rolled-up month for
  archiving (`pg_dump -t <name>`, then `DROP TABLE <name>`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection as default_connection
from django.db import transaction

TABLE = "agents_app_invocation"
DEFAULT_PARTITION = f"{TABLE}_pdefault"
MONTHS_AHEAD = 3
UTC = dt.UTC


def is_postgresql(connection=None) -> bool:
    return (connection or default_connection).vendor == "postgresql"


def is_partitioned(connection=None) -> bool:
    connection = connection or default_connection
    if not is_postgresql(connection):
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        return cursor.fetchone() is not None


def month_start(moment: dt.date | dt.datetime) -> dt.date:
    return dt.date(moment.year, moment.month, 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: dt.date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


# --- The migration ---------------------------------------------------------------------------------


def invocations_table_partition(connection) -> None:
    """Rebuild the invocations table partitioned by month, rows and all (PostgreSQL; a no-op elsewhere)."""
    if is_postgresql(connection) and not is_partitioned(connection):
        _rebuild(connection, partitioned=True)


def invocations_table_unpartition(connection) -> None:
    """Rebuild it as one plain table again, rows and all (the migration backwards)."""
    if is_partitioned(connection):
        _rebuild(connection, partitioned=False)


def _rebuild(connection, *, partitioned: bool) -> None:
    qn = connection.ops.quote_name
    old = f"{TABLE}_rebuilt"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = %s::regclass", [TABLE]
        )
        incoming = cursor.fetchall()
        if incoming:
            raise RuntimeError(
                f"foreign keys point at {TABLE} ({incoming}); a partitioned table cannot be referenced by id "
                "alone: declare them with db_constraint=False"
            )
        # What the rebuilt table gets back under the same names: indexes (not the primary key's), and the
        # foreign-key and primary-key constraints (check constraints come with LIKE).
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('p', 'f') AND conparentid = 0",
            [TABLE],
        )
        constraints = cursor.fetchall()
        pk_name = next(name for name, kind, _ in constraints if kind == "p")
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
            [TABLE],
        )
        indexes = cursor.fetchall()
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        (sequence,) = cursor.fetchone()

        # Move the old table and its names aside.
        cursor.execute(f"ALTER TABLE {qn(TABLE)} RENAME TO {qn(old)}")
        for n, (name, _) in enumerate(indexes):
            cursor.execute(f"ALTER INDEX {qn(name)} RENAME TO {qn(f'{old}_i{n}')}")
        for n, (name, _, _) in enumerate(constraints):
            cursor.execute(f"ALTER TABLE {qn(old)} RENAME CONSTRAINT {qn(name)} TO {qn(f'{old}_c{n}')}")
        if sequence:
            cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {qn(f'{old}_id_seq')}")

        like = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS"
        if partitioned:
            cursor.execute(f"CREATE TABLE {qn(TABLE)} (LIKE {qn(old)} {like}) PARTITION BY RANGE (queued_at)")
            cursor.execute(f"ALTER TABLE {qn(TABLE)} ADD CONSTRAINT {qn(pk_name)} PRIMARY KEY (id, queued_at)")
            cursor.execute(f"SELECT MIN(queued_at) FROM {qn(old)}")
            (first,) = cursor.fetchone()
            _partitions_create(cursor, qn, first or dt.datetime.now(UTC))
        else:
            cursor.execute(f"CREATE TABLE {qn(TABLE)} (LIKE {qn(old)} {like})")
            cursor.execute(f"ALTER TABLE {qn(TABLE)} ADD CONSTRAINT {qn(pk_name)} PRIMARY KEY (id)")
        cursor.execute(f"INSERT INTO {qn(TABLE)} SELECT * FROM {qn(old)}")
        for _, definition in indexes:
            cursor.execute(definition)  # the definition names the table, which now is the new one
        for name, kind, definition in constraints:
            if kind == "f":
                cursor.execute(f"ALTER TABLE {qn(TABLE)} ADD CONSTRAINT {qn(name)} {definition}")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {qn(TABLE)}",
            [TABLE],
        )
        cursor.execute(f"DROP TABLE {qn(old)} CASCADE")
        cursor.execute(f"ANALYZE {qn(TABLE)}")


def _partitions_create(cursor, qn, first: dt.datetime) -> None:
    """Monthly partitions from `first`'s month to MONTHS_AHEAD months from now, and the default one."""
    month, last = month_start(first), month_start(dt.datetime.now(UTC))
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    while month <= last:
        cursor.execute(
            f"CREATE TABLE {qn(partition_name(month))} PARTITION OF {qn(TABLE)} FOR VALUES FROM (%s) TO (%s)",
            [_bound(month), _bound(next_month(month))],
        )
        month = next_month(month)
    cursor.execute(f"CREATE TABLE {qn(DEFAULT_PARTITION)} PARTITION OF {qn(TABLE)} DEFAULT")


def _bound(month: dt.date) -> str:
    # A literal in UTC: the bound is a timestamptz, and the session's time zone must not shift it.
    return f"{month:%Y-%m-%d} 00:00:00+00"


# --- Maintenance -----------------------------------------------------------------------------------


@dataclass
class Partition:
    name: str
    month: dt.date | None  # None: the default partition
    rows: int  # the planner's estimate (reltuples), -1 before the first ANALYZE


def invocation_partitions() -> list[Partition]:
    """The attached partitions, oldest month first, the default one last; empty where the table is not partitioned."""
    if not is_partitioned():
        return []
    with default_connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.reltuples::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [TABLE],
        )
        rows = cursor.fetchall()
    partitions = []
    for name, estimate in rows:
        month = None
        if name != DEFAULT_PARTITION:
            year, number = name.removeprefix(f"{TABLE}_p").split("_")
            month = dt.date(int(year), int(number), 1)
        partitions.append(Partition(name, month, int(estimate)))
    return sorted(partitions, key=lambda p: (p.month is None, p.month or dt.date.min))


def invocation_partitions_ensure(*, months_ahead: int = MONTHS_AHEAD, today: dt.date | None = None) -> list[str]:
    """Create the partitions of this month and the next `months_ahead`, if missing; returns the ones created.

    Rows the default partition already holds for such a month (an invocation
    queued in the future, an import) move into the new partition, in the same
    transaction: PostgreSQL refuses to attach a range the default partition has rows for.
    """
    if not is_partitioned():
        return []
    qn = default_connection.ops.quote_name
    existing = {p.month for p in invocation_partitions()}
    month = month_start(today or dt.datetime.now(UTC))
    created = []
    for _ in range(months_ahead + 1):
        if month not in existing:
            name, low, high = partition_name(month), _bound(month), _bound(next_month(month))
            with transaction.atomic(), default_connection.cursor() as cursor:
                cursor.execute(f"CREATE TABLE {qn(name)} (LIKE {qn(TABLE)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {qn(DEFAULT_PARTITION)} WHERE queued_at >= %s AND queued_at < %s "
                    f"RETURNING *) INSERT INTO {qn(name)} SELECT * FROM moved",
                    [low, high],
                )
                cursor.execute(
                    f"ALTER TABLE {qn(TABLE)} ATTACH PARTITION {qn(name)} FOR VALUES FROM (%s) TO (%s)", [low, high]
                )
            created.append(name)
        month = next_month(month)
    return created


def invocation_partition_detach(*, month: dt.date, today: dt.date | None = None) -> str:
    """Detach a month's partition from the table (its rows leave every read); returns the table's name.

    Only a month that is over and whose every day with invocations has a fresh
    daily rollup (the caller, `invocation_partitions --detach`, checks that:
    reporting sits above this layer): the figures stay in the rollups, the
    detached table is archived and dropped by the operator.
    """
    month = month_start(month)
    if not is_partitioned():
        raise ValueError("the invocations table is not partitioned (PostgreSQL only)")
    if next_month(month) > month_start(today or dt.datetime.now(UTC)):
        raise ValueError(f"{month:%Y-%m} is not over yet")
    name = partition_name(month)
    if month not in {p.month for p in invocation_partitions()}:
        raise ValueError(f"no attached partition for {month:%Y-%m}")
    qn = default_connection.ops.quote_name
    with default_connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {qn(TABLE)} DETACH PARTITION {qn(name)}")
    return name
