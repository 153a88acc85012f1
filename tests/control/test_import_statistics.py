"""An import leaves PostgreSQL's planner the statistics of the rows it loaded."""

import psycopg
from conftest import postgres_database
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.config import Settings
from app.main import create_app


def _tuples(url: str, table: str) -> float:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as connection:
        row = connection.execute("SELECT reltuples FROM pg_class WHERE relname = %s", (table,))
        return float(row.fetchone()[0])  # type: ignore[index]


def test_an_import_on_postgresql_analyses_the_tables_it_loaded() -> None:
    with postgres_database(schema=True) as url:
        with TestClient(create_app(Settings(database_url=url))) as client:
            document = client.get("/_emulator/export").json()
            tasks = len(document["tables"]["task"])
            assert tasks > 0
            assert client.post("/_emulator/import", json=document).status_code == 200
        # Never analysed, a table's estimate is -1; analysed, its rows as counted.
        assert _tuples(url, "task") == tasks
