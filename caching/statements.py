"""Reads compiled once per process: a request writes only its WHERE.

The cache stats run a fixed dozen reads per request whose SELECT, FROM and
GROUP BY never change, only their WHERE. The ORM would compile each anew every
time, which costs more than running it over a day's rollup rows or an hour's
invocations. So each read's shape is compiled once (per database vendor: each
writes its statements its own way) without a filter, and a request binds in
its WHERE, written from a `Q` of plain comparisons (`where_sql`): building it
through a queryset cost a quarter of a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, Q, QuerySet
from psycopg.types.datetime import TimestamptzLoader

# The lookups `where_sql` writes, as the ORM writes them.
OPERATORS = {"exact": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


@dataclass(frozen=True)
class Statement:
    """SELECT ... FROM ... WHERE, then GROUP BY, ORDER BY, LIMIT (or nothing), with their params."""

    model: type[Model]
    head: str
    head_params: tuple
    tail: str
    tail_params: tuple
    # The ORM's converters of the columns that have any: (position, (converters, expression)).
    converters: tuple = ()

    def rows(self, where: Q, unindexed: tuple[str, ...] = ()) -> list[tuple]:
        """The rows matching `where` (see `where_sql`; `unindexed` there too), as the database returns them."""
        connection = connections[DEFAULT_DB_ALIAS]
        sql, params = where_sql(self.model, where, unindexed)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and connection.timezone_name == "UTC":
                # psycopg's own timestamptz loader, compiled, reads them in the session's zone (UTC, which Django
                # sets) as Django's does; Django's is a Python subclass of it, several times slower, which a read
                # of a hundred turns' times feels.
                cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
            cursor.execute(self.head + sql + self.tail, (*self.head_params, *params, *self.tail_params))
            return cursor.fetchall()

    def converted(self, where: Q, unindexed: tuple[str, ...] = ()) -> list[tuple]:
        """The same rows with each value as the ORM would return it."""
        rows = self.rows(where, unindexed)
        if not self.converters:
            return rows
        connection = connections[DEFAULT_DB_ALIAS]
        result = []
        for row in rows:
            values = list(row)
            for i, (functions, expression) in self.converters:
                for convert in functions:
                    values[i] = convert(values[i], expression, connection)
            result.append(tuple(values))
        return result


def unfiltered(queryset: QuerySet) -> Statement:
    """`queryset` (values or values_list, not filtered; grouped, ordered or sliced as wished) compiled into a
    Statement that takes any filter, with the ORM's converters of its columns for `Statement.converted`."""
    connection = connections[DEFAULT_DB_ALIAS]
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    if queryset.query.where:
        raise ValueError(f"Already filtered: {sql}")
    # The filter goes before the first clause after FROM that follows it.
    after_from = sql.index(" FROM ")
    clauses = [at for clause in (" GROUP BY ", " ORDER BY ", " LIMIT ") if (at := sql.find(clause, after_from)) > 0]
    split_at = min(clauses, default=len(sql))
    head, tail = sql[:split_at], sql[split_at:]
    split = len(params) - tail.count("%s")
    converters: tuple[tuple[int, tuple[list[Callable], object]], ...] = tuple(
        compiler.get_converters([column for column, _, _ in compiler.select]).items()
    )
    return Statement(queryset.model, f"{head} WHERE ", tuple(params[:split]), tail, tuple(params[split:]), converters)


def where_sql(model: type[Model], where: Q, unindexed: tuple[str, ...] = ()) -> tuple[str, list]:
    """`where` (ANDs and ORs of `field` or `field__lookup` = value, the lookups of `OPERATORS` and `in`, fields
    by name or column name, related rows or their ids) as SQL on `model`'s table, its values made ready as the
    ORM would make them.

    A field named in `unindexed` is written `field + 0`: the same value, which no index serves, so the planner
    takes another path (`caching.rollups` walks the primary key that way). Anything else is refused, not
    guessed at.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    params: list = []

    def condition(lookup: str, value) -> str:
        name, _, operator = lookup.partition("__")
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)  # a name or a column name
        target = field.target_field if field.is_relation else field
        column = f"{table}.{quote(field.column)}"
        if name in unindexed:
            column = f"({column} + 0)"

        def ready(item):
            item = item.pk if isinstance(item, Model) else item
            return target.get_db_prep_value(target.get_prep_value(item), connection, prepared=True)

        if operator == "in":
            items = list(dict.fromkeys(value))
            if not items:
                return "1 = 0"
            params.extend(ready(item) for item in items)
            return f"{column} IN ({', '.join(['%s'] * len(items))})"
        if operator not in ("", *OPERATORS) or value is None:
            raise ValueError(f"Not a plain comparison: {lookup}={value!r}")
        params.append(ready(value))
        return f"{column} {OPERATORS[operator or 'exact']} %s"

    def clause(node: Q) -> str:
        if node.negated:
            raise ValueError(f"Negated: {node}")
        parts = [clause(child) if isinstance(child, Q) else condition(*child) for child in node.children]
        if not parts:
            return "1 = 1"
        return "(" + f" {node.connector} ".join(parts) + ")"

    return clause(where), params
