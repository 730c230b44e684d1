"""Reads compiled once per process: a request compiles only its filter.

The cache stats run a fixed dozen reads per request whose SELECT, FROM and
GROUP BY never change, only their WHERE. The ORM would compile each anew every
time, which costs more than running it over a day's rollup rows or an hour's
invocations. So each read's shape is compiled once (per database vendor: each
writes its statements its own way) without a filter, and a request compiles
its filter alone and binds it in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from psycopg.types.datetime import TimestamptzLoader


@dataclass(frozen=True)
class Statement:
    """SELECT ... FROM ... WHERE, then GROUP BY, ORDER BY, LIMIT (or nothing), with their params."""

    head: str
    head_params: tuple
    tail: str
    tail_params: tuple
    # The ORM's converters of the columns that have any: (position, (converters, expression)).
    converters: tuple = ()

    def rows(self, filtered: QuerySet) -> list[tuple]:
        """The rows matching `filtered`'s WHERE (a queryset of the same model, filtered only), as the database
        returns them."""
        connection = connections[DEFAULT_DB_ALIAS]
        query = filtered.query
        where, where_params = query.get_compiler(connection=connection).compile(query.where)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and connection.timezone_name == "UTC":
                # psycopg's own timestamptz loader, compiled, reads them in the session's zone (UTC, which Django
                # sets) as Django's does; Django's is a Python subclass of it, several times slower, which a read
                # of a hundred turns' times feels.
                cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
            cursor.execute(self.head + where + self.tail, (*self.head_params, *where_params, *self.tail_params))
            return cursor.fetchall()

    def converted(self, filtered: QuerySet) -> list[tuple]:
        """The same rows with each value as the ORM would return it."""
        rows = self.rows(filtered)
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
    return Statement(f"{head} WHERE ", tuple(params[:split]), tail, tuple(params[split:]), converters)
