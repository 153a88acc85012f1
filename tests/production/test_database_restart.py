"""PostgreSQL ending the server's connections, as its restart does, costs a client nothing: the
next calls, reads and writes, answer as before, with no retry."""

from pathlib import Path

from conftest import ADA_TOKEN, end_postgres_connections, postgres_database
from label_studio_sdk import LabelStudio

from .support import RUNS, ok


def test_calls_after_postgresql_ended_every_connection_answer_as_before(
    start_emulator, tmp_path: Path
) -> None:
    with postgres_database() as url:
        emulator = start_emulator(tmp_path / "server", database_url=url)
        try:
            # The official client, its retries off: a first failure would be the test's.
            sdk = LabelStudio(base_url=emulator.url, api_key=ADA_TOKEN, timeout=30)
            no_retry = {"max_retries": 0}
            prompts = [(p.id, p.title) for p in sdk.prompts.list(request_options=no_retry).results]
            with emulator.client() as client:
                ok(client.post(RUNS, json={"project": 1, "project_subset": "Sample"}), 201)
                for _ in range(2):
                    end_postgres_connections(url)
                    listed = sdk.prompts.list(request_options=no_retry).results
                    assert [(p.id, p.title) for p in listed] == prompts
                    assert sdk.users.whoami(request_options=no_retry).username == "ada"
                    created = ok(
                        client.post(RUNS, json={"project": 1, "project_subset": "All"}), 201
                    )
                    assert created["id"] in [run["id"] for run in ok(client.get(RUNS))]
        finally:  # before the database is dropped
            emulator.stop()
