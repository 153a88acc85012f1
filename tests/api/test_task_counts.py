"""Each project's task and ground-truth counts (read by /subsets) stay those of its tasks on
every path that writes tasks: seed upserts, the task API, imports, deletions, reset."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import Emulator
from sqlalchemy import Engine, text

from app.config import Settings
from app.db import make_engine

GT_RESULT = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
              "value": {"choices": ["Positive"]}}]  # fmt: skip


@pytest.fixture
def database(server: Emulator) -> Iterator[Engine]:
    """The shared server's database."""
    engine = make_engine(Settings(data_dir=server.data_dir, **server.settings).sqlalchemy_url())
    yield engine
    engine.dispose()


@pytest.fixture
def control(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(None) as client:
        yield client


def kept(database: Engine) -> dict[int, tuple[int, int]]:
    """The counts the triggers keep, left out the rows of projects that lost every task."""
    with database.connect() as connection:
        rows = connection.execute(
            text("SELECT project_id, tasks, ground_truth FROM project_task_count")
        ).all()
    return {project: (tasks, gt) for project, tasks, gt in rows if (tasks, gt) != (0, 0)}


def counted(database: Engine) -> dict[int, tuple[int, int]]:
    with database.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT project_id, count(*), sum(CASE WHEN has_ground_truth THEN 1 ELSE 0 END) "
                "FROM task GROUP BY project_id"
            )
        ).all()
    return {project: (tasks, int(gt)) for project, tasks, gt in rows}


def seed(control: httpx.Client, **project: object) -> None:
    response = control.post(
        "/_emulator/seed", json={"projects": [{"title": "Counted", "organization": 1, **project}]}
    )
    assert response.status_code == 200, response.text


def test_counts_follow_seed_upserts_the_task_api_and_a_project_deletion(
    api: httpx.Client, control: httpx.Client, database: Engine
) -> None:
    assert kept(database) == counted(database) != {}  # the demo seed's
    seed(control, id=9301, tasks=40, ground_truth=12)
    assert kept(database)[9301] == (40, 12)
    # Fewer tasks, and ground truth moved among those left.
    seed(control, id=9301, tasks=25, ground_truth=20)
    assert kept(database)[9301] == (25, 20)

    created = api.post("/api/tasks/", json={"project": 9301, "data": {"text": "one more"}})
    assert created.status_code == 201, created.text
    imported = api.post(
        "/api/projects/9301/import",
        json=[{"data": {"text": "a"}, "annotations": [{"result": GT_RESULT, "ground_truth": True}]},
              {"data": {"text": "b"}}],
    )  # fmt: skip
    assert imported.status_code == 201, imported.text
    assert kept(database)[9301] == (28, 21)
    deleted = api.delete(f"/api/tasks/{created.json()['id']}/")
    assert deleted.status_code == 204, deleted.text
    assert kept(database) == counted(database)
    assert kept(database)[9301] == (27, 21)

    assert api.delete("/api/projects/9301/").status_code == 204
    assert 9301 not in kept(database)
    assert kept(database) == counted(database)


def test_counts_follow_an_import_and_resets_that_delete_or_truncate(
    control: httpx.Client, database: Engine
) -> None:
    boot = kept(database)
    seed(control, id=9302, tasks=30, ground_truth=9)
    exported = control.get("/_emulator/export").json()
    assert control.post("/_emulator/reset").status_code == 200  # fewer rows than TRUNCATE needs
    assert kept(database) == counted(database) == boot

    assert control.post("/_emulator/import", json=exported).status_code == 200
    assert kept(database) == counted(database)
    assert kept(database)[9302] == (30, 9)

    # Enough rows for a reset by TRUNCATE on PostgreSQL, which fires no DELETE trigger.
    seed(control, id=9303, tasks=10_000, ground_truth=10)
    assert kept(database)[9303] == (10_000, 10)
    assert control.post("/_emulator/reset").status_code == 200
    assert kept(database) == counted(database) == boot
