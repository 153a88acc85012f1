"""The lists a client polls (prompts, versions, a project's tasks, a task's predictions, a
version's runs) are answered again from what the server kept while the database is unchanged;
no change to the database, whoever makes it, is ever hidden by that, and no caller gets
another's answer."""

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ADA_TOKEN, sqlite_file
from sqlalchemy import Engine, create_engine, event, text
from starlette.responses import Response

from app.kept import KeptAnswers, snapshot_version

HANK_TOKEN = "globex-hank-f9e8d7c6b5a4938271605f4e3d2c1b0a"  # demo seed, organization 2
TASKS = "/api/tasks/?project=1&page_size=5&fields=all"
LISTS = ["/api/prompts/", "/api/prompts/1/versions", TASKS, "/api/predictions/?task=1"]


@pytest.fixture
def database(server, frozen_clock) -> Iterator:
    """An engine on the server's database, as another program on it would have."""
    url = server.settings.get("database_url") or f"sqlite:///{sqlite_file(server.data_dir)}"
    engine = create_engine(str(url))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def database_version(server, database) -> Iterator:
    """The database's version as the server reads it: SQLite's data_version on a connection
    of its own, the snapshot of a statement on PostgreSQL."""
    if server.settings.get("database_url"):
        read = text("SELECT pg_current_snapshot()::text")

        def snapshot():
            with database.connect() as connection:
                return snapshot_version(connection.execute(read).scalar_one())

        yield snapshot
        return
    watch = sqlite3.connect(sqlite_file(server.data_dir), isolation_level=None)
    try:
        yield lambda: watch.execute("PRAGMA data_version").fetchone()[0]
    finally:
        watch.close()


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The statements run in the test process (the in-process server's among them)."""
    ran: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(statement)

    event.listen(Engine, "before_cursor_execute", executed)
    try:
        yield ran
    finally:
        event.remove(Engine, "before_cursor_execute", executed)


def _get(server, path, token=ADA_TOKEN):
    with server.client(token) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(
    ("path", "table"),
    [
        ("/api/prompts/", "FROM prompt"),
        ("/api/prompts/1/versions", "JOIN prompt_version"),
        (TASKS, "FROM task"),
    ],  # fmt: skip
)
def test_an_unchanged_list_is_answered_again_without_reading_it(
    server, frozen_clock, database_version, statements, path, table
):
    # The clock stopped, so no run moves: nothing of this server commits between the reads.
    first = _get(server, path)  # the clock's change before it: read
    assert [sql for sql in statements if table in sql]
    for _ in range(ATTEMPTS):
        # On PostgreSQL the version is the snapshot of the whole server, which other test
        # workers' commits move too: the pair counts when nothing ended around it (a version
        # equal before and after was the version of both reads between).
        before = database_version()
        stored = _get(server, path)
        statements.clear()
        again = _get(server, path)
        if database_version() == before:
            break
    else:
        pytest.fail(f"the database's version moved during each of {ATTEMPTS} pairs of reads")
    assert stored.content == again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["content-length"] == first.headers["content-length"]
    assert [sql for sql in statements if table in sql] == []


# Pairs of reads tried at most for one with no commit around it (PostgreSQL: see above).
ATTEMPTS = 500


def test_a_change_through_the_api_is_in_the_next_answer(server, fresh_state):
    before = _get(server, TASKS).json()
    task = before["tasks"][0]
    with server.client() as client:
        client.patch(f"/api/tasks/{task['id']}/", json={"data": {"text": "changed"}})
        created = client.post(
            "/api/predictions/",
            json={"task": task["id"], "result": [], "model_version": "kept-test"},
        )
        created.raise_for_status()

    after = _get(server, TASKS).json()
    assert after["tasks"][0]["data"] == {"text": "changed"}
    assert after["total_predictions"] == before["total_predictions"] + 1
    predictions = _get(server, f"/api/predictions/?task={task['id']}").json()
    assert created.json()["id"] in [prediction["id"] for prediction in predictions]


@pytest.mark.parametrize("path", ["/api/prompts/", "/api/prompts/1/versions"])
def test_a_change_by_another_program_on_the_database_is_in_the_next_answer(server, database, path):
    before = _get(server, path).json()
    assert _get(server, path).json() == before  # kept, on SQLite
    with database.begin() as connection:
        connection.execute(text("UPDATE prompt SET title = 'Renamed elsewhere' WHERE id = 1"))
        connection.execute(text("UPDATE prompt_version SET title = 'v-elsewhere' WHERE id = 1"))

    after = _get(server, path).json()
    items = after["results"] if "results" in after else after
    titles = {item["id"]: item["title"] for item in items}
    assert titles[1] == ("Renamed elsewhere" if path == "/api/prompts/" else "v-elsewhere")


@pytest.mark.parametrize("path", LISTS)
def test_each_caller_gets_its_own_answer(server, frozen_clock, path):
    ada = _get(server, path)
    with server.client(HANK_TOKEN) as client:
        hank = client.get(path)
    # Globex's user sees none of Acme's prompts, versions, tasks or predictions.
    assert hank.content != ada.content
    assert _get(server, path).content == ada.content


@pytest.mark.parametrize("path", LISTS)
def test_authentication_still_answers_first(server, path):
    _get(server, path)
    with server.client("no-such-key") as client:
        refused = client.get(path)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid token."


def _answer(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def test_answers_are_kept_for_their_version_only():
    kept = KeptAnswers()
    kept.changed(1)
    kept.keep(1, "a", _answer(b"[1]"))
    kept.keep(0, "b", _answer(b"[0]"))  # read before the change: never given
    kept.keep(1, "c", _answer(b'{"detail":"x"}', 404))  # only 200s are kept

    given = kept.get(1, "a")
    assert given is not None and given.body == b"[1]"
    assert given.raw_headers == _answer(b"[1]").raw_headers
    given.raw_headers.append((b"x-added", b"1"))  # a route's header stays in its own answer
    assert (b"x-added", b"1") not in kept.get(1, "a").raw_headers
    assert kept.get(1, "b") is None and kept.get(1, "c") is None
    assert kept.get(0, "a") is None  # a request that read another version

    kept.changed(2)
    assert kept.get(2, "a") is None


def test_the_oldest_answers_go_first_past_the_bound(monkeypatch):
    monkeypatch.setattr(KeptAnswers, "MAX_BYTES", 100)
    kept = KeptAnswers()
    kept.changed(1)
    for key in "abcd":
        kept.keep(1, key, _answer(b"x" * 12))
    kept.keep(1, "e", _answer(b"x" * 50))  # more than an eighth of the bound: not kept
    assert [key for key in "abcde" if kept.get(1, key)] == ["a", "b", "c", "d"]
    for key in "efghijk":
        kept.keep(1, key, _answer(b"y" * 12))
    assert [key for key in "abcdefghijk" if kept.get(1, key)] == list("defghijk")


def test_a_commit_by_another_connection_moves_the_version_forward(database, database_version):
    before = database_version()
    with database.begin() as other:
        other.execute(text("UPDATE prompt SET title = 'Moved' WHERE id = 1"))
    assert database_version() > before


def test_snapshot_versions_order_by_the_transactions_ended():
    assert snapshot_version("100:105:100,103") < snapshot_version("100:105:100")
    assert snapshot_version("100:105:100") < snapshot_version("101:106:")
    assert snapshot_version("100:105:") == snapshot_version("100:105:")


def test_a_kept_answer_is_one_of_its_url_and_answers_head_alike(server, frozen_clock):
    # The page's links are built of the URL the client used: another host is another answer.
    path = "/api/prompts/?page_size=1"
    with server.client() as client:
        client.post("/api/prompts/", json={"title": "Second"}).raise_for_status()
        first = [client.get(path, headers={"Host": host}).json()["next"] for host in "ab"]
        again = [client.get(path, headers={"Host": host}).json()["next"] for host in "ab"]
        head = client.head(path, headers={"Host": "a"})
        body = client.get(path, headers={"Host": "a"})
    assert first == again
    assert first[0].startswith("http://a/") and first[1].startswith("http://b/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == body.headers["content-length"]
