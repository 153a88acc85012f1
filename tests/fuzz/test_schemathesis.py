"""Every operation of the served /openapi.json, fuzzed in-process on both backends: no input
gives a 5xx, every answer matches the served schema, and the stored state stays readable.

Drawing the cases costs more than answering them, so each case is drawn once and sent to the
app of every backend; the operations are split in three parts that run in parallel."""

from contextlib import ExitStack
from pathlib import Path

import hypothesis.strategies as st
import pytest
import schemathesis
from conftest import ADA_TOKEN, BACKENDS, postgres_database
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.config import Settings
from app.main import create_app

from .support import AUTH, RUNS

# Checks: no 5xx, and every documented answer has the documented shape. Status-code
# conformance is left out: the schema lists the 2xx answers only, while Label Studio's
# documented 400/401/404/405/415 answers (the envelope) are the point of most fuzzed input.
CHECKS = [not_a_server_error, response_schema_conformance]
EXAMPLES = 25  # per operation; derandomized, so every run sends the same requests
PARTS = 3  # the operations are fuzzed in three tests, one per xdist worker
# Ids of the demo data (run 1 is created before the fuzzing): random ids would reach 404s only.
STREAMS = {"/_emulator/events"}
KNOWN_IDS = {"prompt_id": 1, "version_id": 1, "project_pk": 1, "run_id": 1, "inference_run_id": 1}
# Ids of the workspace: prompts, few-shot examples, projects, connections, tasks and
# predictions ("id"), and import 1 (made before fuzzing).
KNOWN_IDS |= {"id": 1, "import_pk": 1}
# --- results: a key indicator of run 1 ---
KNOWN_IDS |= {"indicator_key": "accuracy"}


def fuzz(operation, apps: list[object]) -> None:
    """Send valid and invalid requests of one operation, derived from the schema, to each app."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases, known_ids=st.integers(0, 3))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case, known_ids: int) -> None:
        if known_ids and case.path_parameters:  # three times in four: objects that exist
            case.path_parameters = {k: KNOWN_IDS.get(k, v) for k, v in case.path_parameters.items()}
        if case.path.endswith("/wait") and isinstance(case.query, dict):
            case.query["timeout"] = 0  # a valid timeout waits up to 300 s: nothing more to learn
        for app in apps:
            response = case.call(app=app, headers={**AUTH, **(case.headers or {})})
            checks = CHECKS
            # --- tasks workspace: the import's 400 is documented as a bare string ("Incorrect
            # task data"), but Label Studio's exception handler answers it in the envelope.
            if (case.operation.path, response.status_code) == ("/api/projects/{id}/import", 400):
                checks = [not_a_server_error]
            # --- tasks: a task's predictions are documented with model and model_run objects
            # and a number for score, but Label Studio's PredictionSerializer answers ids (or
            # null) and a null score when none was given, as the emulator does.
            if case.operation.path.startswith("/api/tasks") and _carries_predictions(response):
                checks = [not_a_server_error]
            case.validate_response(response, checks=checks)

    check()


@pytest.mark.parametrize("part", range(PARTS))
def test_no_operation_answers_5xx_or_off_schema(part: int, tmp_path: Path) -> None:
    with ExitStack() as databases:
        apps = [
            create_app(
                Settings(
                    data_dir=tmp_path / backend,
                    database_url=databases.enter_context(
                        postgres_database()
                        if backend == "postgresql"
                        else _sqlite(tmp_path / backend)
                    ),
                    queue_delay_seconds=0.2,
                    batch_size=25,
                )
            )
            for backend in BACKENDS
        ]
        try:
            # Loading the schema starts an app's lifespan; every app serves the same schema.
            schemas = [schemathesis.openapi.from_asgi("/openapi.json", app) for app in apps]
            operations = [
                operation
                for operation in (result.ok() for result in schemas[0].get_all_operations())
                # An event stream never ends: tests/control/test_console_api.py reads it.
                if operation.path not in STREAMS
            ]
            assert len(operations) >= 20
            for app in apps:
                _prepare(app)
            for operation in operations[part::PARTS]:
                fuzz(operation, apps)
            for app in apps:
                _check_readable(app)
        finally:
            shutdown_lifespans()


def _carries_predictions(response) -> bool:
    """Whether the answer is a task, or a page of tasks, with a prediction."""
    try:
        body = response.json()
    except ValueError:
        return False
    tasks = body.get("tasks", [body]) if isinstance(body, dict) else body
    return isinstance(tasks, list) and any(
        isinstance(task, dict) and task.get("predictions") for task in tasks
    )


def _prepare(app: object) -> None:
    """Run 1, an import and a prediction: objects the known ids name."""
    client = schemathesis.python.asgi.get_client(app)
    client.headers.update({"Authorization": f"Token {ADA_TOKEN}"})
    created = client.post(RUNS, json={"project": 1})
    assert created.status_code == 201, created.text
    imported = client.post("/api/projects/1/import", json=[{"text": "fuzz"}])
    assert imported.status_code == 201, imported.text
    predicted = client.post("/api/predictions/", json={"task": 1, "result": []})
    assert predicted.status_code == 201, predicted.text


def _check_readable(app: object) -> None:
    """Whatever the fuzzing stored can be exported, listed and moved on by the clock."""
    client = schemathesis.python.asgi.get_client(app)
    client.headers.update({"Authorization": f"Token {ADA_TOKEN}"})
    export = client.get("/_emulator/export")
    assert export.status_code == 200, export.text
    for version in export.json()["tables"]["prompt_version"]:
        path = f"/api/prompts/{version['prompt_id']}/versions/{version['id']}/inference-runs"
        runs = client.get(path)
        assert runs.status_code in (200, 404), runs.text  # 404: another org's prompt
    clock = client.post("/_emulator/clock", json={"advance_seconds": 60})
    assert clock.status_code == 200, clock.text


class _sqlite:
    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.url = f"sqlite:///{directory / 'emulator.sqlite3'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc) -> None:
        return None
