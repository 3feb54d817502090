"""The service's fixtures: a throwaway PostgreSQL server (initdb/pg_ctl), and job-store URLs on SQLite and on it.

``store_url`` is parametrized: each test using it runs once on SQLite and once on
PostgreSQL (a fresh database each). Where no PostgreSQL server can run here, the
PostgreSQL half is skipped with the reason (CI installs Debian's ``postgresql``).
"""

import pytest

from qjax.serve.localpg import LocalPostgres, why_unavailable


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL cluster for the session, on 127.0.0.1 and a socket in its own temporary directory."""
    why = why_unavailable()
    if why is not None:
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    pg = LocalPostgres().start()
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(postgres):
    """A fresh empty database's plain ``postgresql://postgres@127.0.0.1:<port>/<db>`` URL."""
    return postgres.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("pg_url")
