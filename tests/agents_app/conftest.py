"""Fixtures for tests that commit from many threads at once, as a worker's threads and the web process do."""

import importlib
import sqlite3
from contextlib import closing

import pytest
from django.apps import apps
from django.db import connections

from agents_app.models import FoundationModel
from tests.conftest import CLAUDE


@pytest.fixture
def sqlite_file_database(db, tmp_path):
    """Point every connection of the test at a file copy of the suite's in-memory database (left untouched)."""
    memory = connections["default"]
    memory.ensure_connection()
    path = tmp_path / "db.sqlite3"
    # A dump, not a backup: the `db` fixture's open transaction holds the lock a backup would wait for.
    script = "\n".join(memory.connection.iterdump())
    with closing(sqlite3.connect(path)) as copy:
        copy.executescript(script)
    original = connections.settings["default"]
    connections.settings["default"] = {**original, "NAME": str(path)}
    del connections["default"]  # this thread's next query opens the file
    try:
        yield
    finally:
        connections["default"].close()
        connections.settings["default"] = original
        connections["default"] = memory


@pytest.fixture
def catalog_seeded(transactional_db):
    """The catalog, re-seeded if an earlier transactional test flushed the database."""
    if not FoundationModel.objects.filter(model_id=CLAUDE).exists():
        importlib.import_module("agents_app.migrations.0002_seed_model_catalog").seed_catalog(apps, None)
