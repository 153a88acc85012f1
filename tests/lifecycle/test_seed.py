"""The seed document: its checks with the entry and problem named, the files it is read from,
where ground truth falls, and an upsert that reshapes a project's tasks."""

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import BACKENDS, copy_sqlite_schema, postgres_database
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, select

from app.config import Settings
from app.db import make_engine, sync_sequences, write_session
from app.lifecycle.snapshot import DERIVED_TABLES
from app.models import (
    Annotation,
    FailedPrediction,
    FewShotExample,
    ModelProviderConnection,
    ModelRun,
    Organization,
    Prediction,
    Project,
    Prompt,
    PromptProject,
    PromptVersion,
    RunTask,
    Task,
    User,
)
from app.render import iso
from app.seed import (
    DEMO_SEED,
    SeedError,
    configured_seed,
    database_is_empty,
    ground_truth_positions,
    load_configured_seed,
    load_seed,
    parse_seed,
    read_seed_file,
    sample_ground_truth_for,
    sample_ticket,
)


@pytest.mark.parametrize(
    ("tasks", "ground_truth", "positions"),
    [
        (10, 4, [0, 0, 1, 0, 1, 0, 0, 1, 0, 1]),
        (5, 2, [0, 0, 1, 0, 1]),
        (4, 1, [0, 0, 0, 1]),
        (3, 3, [1, 1, 1]),
        (3, 0, [0, 0, 0]),
        (0, 0, []),
    ],
)
def test_ground_truth_is_spread_evenly_ending_on_the_last_task(tasks, ground_truth, positions):
    assert ground_truth_positions(tasks, ground_truth) == [bool(p) for p in positions]


def refusal(document) -> str:
    with pytest.raises(SeedError) as refused:
        parse_seed(document, "doc.yaml")
    return refused.value.detail


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (
            {"users": [{"id": 1, "username": "a", "organization": 1, "token": "same"},
                       {"id": 2, "username": "b", "organization": 1, "token": "same"}]},
            "doc.yaml: users[1].token: the token is already another user's",
        ),
        (
            {"prompts": [{"id": 1, "title": "p", "organization": 1, "versions": [{"id": 4, "title": "a"}]},
                         {"id": 2, "title": "q", "organization": 1, "versions": [{"id": 4, "title": "b"}]}]},
            "doc.yaml: versions[1].id: id 4 appears twice",
        ),
        (
            {"projects": [{"id": 2, "title": "a", "organization": 1},
                          {"id": 2, "title": "b", "organization": 1}]},
            "doc.yaml: projects[1].id: id 2 appears twice",
        ),
        (
            {"prompts": [{"id": 1, "title": "p", "organization": 1,
                          "versions": [{"id": 1, "title": "v"}, {"id": 2, "title": "w", "accuracy": 1.5}]}]},
            "doc.yaml: prompts[0].versions[1].accuracy: Input should be less than or equal to 1",
        ),
        (
            {"users": [{"id": 1, "username": "", "organization": 1, "token": "a b"}]},
            "doc.yaml: users[0].username: String should have at least 1 character; "
            "users[0].token: String should match pattern '^\\S+$'",
        ),
        (
            {"organizations": [{"id": 0, "title": "zero"}]},
            "doc.yaml: organizations[0].id: Input should be greater than or equal to 1",
        ),
        (
            {"projects": [{"id": 1, "title": "p", "organization": 1, "tasks": 1_000_001}]},
            "doc.yaml: projects[0].tasks: Input should be less than or equal to 1000000",
        ),
        (
            {"organizations": [{"id": 1, "title": "a\ud800"}]},
            "doc.yaml: organizations[0].title: Value error, surrogate characters are not allowed",
        ),
        ({"teams": []}, "doc.yaml: teams: Extra inputs are not permitted"),
        ("x", "doc.yaml: document: Input should be a valid dictionary or instance of SeedDocument"),
    ],
)  # fmt: skip
def test_a_seed_that_cannot_be_loaded_names_its_source_entry_and_problem(document, detail):
    assert refusal(document) == detail


def project(**fields) -> dict:
    return {"projects": [{"id": 1, "title": "p", "organization": 1, **fields}]}


def version(**fields) -> dict:
    return {"prompts": [{"id": 1, "title": "t", "organization": 1,
                         "versions": [{"id": 1, "title": "v", **fields}]}]}  # fmt: skip


def connection(**fields) -> dict:
    return {"connections": [{"id": 1, "organization": 1, **fields}]}


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (project(tasks=-1), "doc.yaml: projects[0].tasks: Input should be greater than or equal to 0"),
        (project(tasks=1.5), "doc.yaml: projects[0].tasks: Input should be a valid integer, got a number "
                             "with a fractional part"),
        # Neither a count nor a list: both readings are told.
        (project(tasks="many"), "doc.yaml: projects[0].tasks: Input should be a valid integer, unable to "
                                "parse string as an integer; projects[0].tasks: Input should be a valid list"),
        # A list with a bad task: only what is wrong with the task is told.
        (project(tasks=[{"meta": {}}]), "doc.yaml: projects[0].tasks[0].data: Field required"),
        (project(tasks=[{"data": {}, "annotations": [{"lead_time": "soon"}]}]),
         "doc.yaml: projects[0].tasks[0].annotations[0].lead_time: Input should be a valid number, "
         "unable to parse string as a number"),
        (project(ground_truth=-1),
         "doc.yaml: projects[0].ground_truth: Input should be greater than or equal to 0"),
        (project(tasks=5, ground_truth=6),
         "doc.yaml: projects[0]: Value error, ground_truth (6) exceeds tasks (5)"),
        (project(tasks=[{"data": {}}], ground_truth=1),
         "doc.yaml: projects[0]: Value error, ground_truth counts generated tasks: with a list of "
         "tasks, mark their annotations ground_truth: true instead"),
        (project(label_config='<View><Choices name="c" toName="text"/></View>'),
         "doc.yaml: projects[0].label_config: Value error, label_config: toName=\"text\" not found "
         "in names: ['c']"),
        (project(created_at="2025-01-01T00:00:00"),
         "doc.yaml: projects[0].created_at: Input should have timezone info"),
        (version(accuracy=-0.01), "doc.yaml: prompts[0].versions[0].accuracy: Input should be greater than or equal to 0"),
        (version(failure_rate=1.01), "doc.yaml: prompts[0].versions[0].failure_rate: Input should be less than or equal to 1"),
        (version(failure_rate=-0.1), "doc.yaml: prompts[0].versions[0].failure_rate: Input should be greater than or equal to 0"),
        (version(max_few_shot_examples=-1),
         "doc.yaml: prompts[0].versions[0].max_few_shot_examples: Input should be greater than or equal to 0"),
        (version(few_shot_examples=[{"task": 1, "annotation": 1, "order": -1}]),
         "doc.yaml: prompts[0].versions[0].few_shot_examples[0].order: Input should be greater than or equal to 0"),
        (version(few_shot_examples=[{"task": 1, "annotation": 1, "order": 2**31}]),
         "doc.yaml: prompts[0].versions[0].few_shot_examples[0].order: Input should be less than or equal to 2147483647"),
        ({"prompts": [{"id": 1, "title": "t", "organization": 1, "skill_name": "Summarization"}]},
         "doc.yaml: prompts[0].skill_name: String should match pattern "
         "'^(TextClassification|NamedEntityRecognition)$'"),
        (connection(deployment_name="x" * 513), "doc.yaml: connections[0].deployment_name: String should have at most 512 characters"),
        (connection(endpoint="x" * 513), "doc.yaml: connections[0].endpoint: String should have at most 512 characters"),
        (connection(google_project_id="x" * 256), "doc.yaml: connections[0].google_project_id: String should have at most 255 characters"),
        (connection(google_location="x" * 256), "doc.yaml: connections[0].google_location: String should have at most 255 characters"),
        (connection(cached_available_models="x" * 4097),
         "doc.yaml: connections[0].cached_available_models: String should have at most 4096 characters"),
        (connection(budget_limit=float("inf")), "doc.yaml: connections[0].budget_limit: Input should be a finite number"),
        (connection(budget_alert_threshold=float("nan")),
         "doc.yaml: connections[0].budget_alert_threshold: Input should be a finite number"),
        (connection(budget_total_spent=float("-inf")),
         "doc.yaml: connections[0].budget_total_spent: Input should be a finite number"),
        (connection(budget_reset_period="Weekly"),
         "doc.yaml: connections[0].budget_reset_period: Input should be 'Monthly' or 'Yearly'"),
        (connection(scope="Team"), "doc.yaml: connections[0].scope: Input should be 'Organization', 'User' or 'Model'"),
        ({"users": [{"id": 1, "username": "a", "organization": 1, "token": "a", "email": "a\x00"}]},
         "doc.yaml: users[0].email: Value error, null characters are not allowed"),
        ({"users": [{"id": 1, "username": "a", "organization": 1, "token": "a"},
                    {"id": 1, "username": "b", "organization": 1, "token": "b"}]},
         "doc.yaml: users[1].id: id 1 appears twice"),
        ({"prompts": [{"id": 1, "title": "a", "organization": 1}, {"id": 1, "title": "b", "organization": 1}]},
         "doc.yaml: prompts[1].id: id 1 appears twice"),
        ({"connections": [{"id": 2, "organization": 1}, {"id": 2, "organization": 1}]},
         "doc.yaml: connections[1].id: id 2 appears twice"),
        ({"organizations": "Acme"}, "doc.yaml: organizations: Input should be a valid list"),
        ({"organizations": [{"id": 1}]}, "doc.yaml: organizations[0].title: Field required"),
    ],
)  # fmt: skip
def test_each_field_of_a_seed_is_checked_and_a_refusal_names_it(document, detail):
    assert refusal(document) == detail


def test_the_fields_a_seed_leaves_out_take_their_defaults():
    document = parse_seed(
        {
            "organizations": [{"id": 1, "title": "A"}],
            "users": [{"id": 1, "username": "u", "organization": 1, "token": "t"}],
            "projects": [{"id": 1, "title": "p", "organization": 1,
                          "tasks": [{"data": {}, "annotations": [{}], "predictions": [{}]}]}],
            "prompts": [{"id": 1, "title": "t", "organization": 1,
                         "versions": [{"id": 1, "title": "v",
                                       "few_shot_examples": [{"task": 1, "annotation": 1}]}]}],
            "connections": [{"id": 1, "organization": 1}],
        },
        "doc.yaml",
    )  # fmt: skip
    assert document.model_dump() == {
        "organizations": [{"id": 1, "title": "A", "legacy_api_tokens_enabled": False}],
        "users": [{"id": 1, "email": "", "username": "u", "first_name": "", "last_name": "",
                   "organization": 1, "token": "t"}],
        "projects": [{"id": 1, "title": "p", "organization": 1,
                      "tasks": [{"data": {}, "meta": {},
                                 "annotations": [{"result": [], "ground_truth": False,
                                                  "was_cancelled": False, "lead_time": None}],
                                 "predictions": [{"result": [], "score": None, "model_version": ""}]}],
                      "ground_truth": 0, "description": "", "label_config": "<View></View>",
                      "created_by": None, "created_at": datetime(2025, 1, 1, tzinfo=UTC),
                      "pinned_at": None}],
        "prompts": [{"id": 1, "title": "t", "organization": 1, "associated_projects": [],
                     "versions": [{"id": 1, "title": "v", "prompt": "", "provider": "OpenAI",
                                   "provider_model_id": "", "accuracy": 0.8, "failure_rate": 0.0,
                                   "max_few_shot_examples": None,
                                   "few_shot_examples": [{"task": 1, "annotation": 1, "order": 0}]}],
                     "description": None, "skill_name": "TextClassification", "input_fields": [],
                     "output_classes": [], "created_by": None}],
        "connections": [{"id": 1, "organization": 1, "created_by": None, "provider": "OpenAI",
                         "scope": "Organization", "api_key": None, "auth_token": None,
                         "google_application_credentials": None, "deployment_name": None,
                         "endpoint": None, "google_project_id": None, "google_location": None,
                         "cached_available_models": None, "is_internal": False,
                         "budget_limit": None, "budget_alert_threshold": None,
                         "budget_reset_period": None, "budget_total_spent": None}],
    }  # fmt: skip


@pytest.mark.parametrize(
    "document",
    [
        version(accuracy=0, failure_rate=1),
        version(accuracy=1, failure_rate=0, max_few_shot_examples=0,
                few_shot_examples=[{"task": 2**31 - 1, "annotation": 1, "order": 2**31 - 1}]),
        connection(deployment_name="x" * 512, endpoint="x" * 512, google_project_id="x" * 255,
                   google_location="x" * 255, cached_available_models="x" * 4096),
        project(tasks=5, ground_truth=5),
        {"prompts": [{"id": 1, "title": "t", "organization": 1, "skill_name": "NamedEntityRecognition"}]},
    ],
)  # fmt: skip
def test_a_seed_field_at_its_limit_is_accepted(document):
    parse_seed(document, "doc.yaml")


def test_a_seed_at_its_bounds_is_accepted():
    document = parse_seed(
        {
            "organizations": [{"id": 2**31 - 1, "title": "Last"}],
            "projects": [
                {
                    "id": 1,
                    "title": "p",
                    "organization": 1,
                    "tasks": 1_000_000,
                    "ground_truth": 1_000_000,
                }
            ],
        },  # fmt: skip
        "doc.yaml",
    )
    assert (document.organizations[0].id, document.projects[0].ground_truth) == (2**31 - 1, 10**6)
    # New organizations have legacy tokens off, as in Label Studio.
    assert document.organizations[0].legacy_api_tokens_enabled is False


def test_seed_files_are_read_as_yaml_or_by_their_suffix_as_json(tmp_path: Path):
    (tmp_path / "seed.yaml").write_text("organizations: [{id: 7, title: Seven}]\n")
    (tmp_path / "seed.json").write_text('{"organizations": [{"id": 8, "title": "Eight"}]}')

    assert read_seed_file(tmp_path / "seed.yaml").organizations[0].title == "Seven"
    assert read_seed_file(tmp_path / "seed.json").organizations[0].title == "Eight"


def test_seed_files_that_cannot_be_read_or_parsed_are_refused_with_their_path(tmp_path: Path):
    missing, broken_yaml, broken_json = (
        tmp_path / "missing.yaml", tmp_path / "broken.yaml", tmp_path / "broken.json"
    )  # fmt: skip
    broken_yaml.write_text("organizations: [")
    broken_json.write_text("organizations: []")

    with pytest.raises(SeedError) as unreadable:
        read_seed_file(missing)
    with pytest.raises(SeedError) as not_yaml:
        read_seed_file(broken_yaml)
    with pytest.raises(SeedError) as not_json:
        read_seed_file(broken_json)

    assert unreadable.value.detail == f"{missing}: cannot be read (No such file or directory)"
    assert not_yaml.value.detail.startswith(f"{broken_yaml}: not valid YAML: ")
    assert not_json.value.detail == (
        f"{broken_json}: not valid JSON: Expecting value: line 1 column 1 (char 0)"
    )


def test_the_configured_seed_is_the_demo_unless_a_file_is_named(tmp_path: Path):
    document, source = configured_seed(Settings())
    assert source == str(DEMO_SEED)
    assert [(p.id, p.tasks, p.ground_truth) for p in document.projects] == [
        (1, 300, 90), (2, 120, 40), (3, 50, 20)
    ]  # fmt: skip
    own = tmp_path / "own.yaml"
    own.write_text("organizations: [{id: 1, title: Own}]\n")
    document, source = configured_seed(Settings(seed_file=own))
    assert (source, document.organizations[0].title) == (str(own), "Own")


# --- the demo seed and the upsert, called directly on a database of each backend ---

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
TICKET_ONE = "Thanks a lot, the new release fixed my sync problem right away!"
TICKET_TWO = "My order arrived damaged and nobody answers my emails."
TICKET_LAST = "Where can I find the API documentation?"


class Demo:
    """A database the demo seed was loaded into, with what the load answered."""

    def __init__(self, engine, empty_before: bool, empty_after: bool, loaded: dict) -> None:
        self.engine, self.empty_before, self.empty_after, self.loaded = (
            engine, empty_before, empty_after, loaded
        )  # fmt: skip


def empty_engine(stack: ExitStack, backend: str, directory: Path) -> Engine:
    """An engine on a new database of ``backend`` with the newest schema and no rows, closed
    (and on PostgreSQL dropped) with ``stack``."""
    if backend == "sqlite":
        copy_sqlite_schema(directory / "emulator.sqlite3")
        url = f"sqlite:///{directory / 'emulator.sqlite3'}"
    else:
        url = stack.enter_context(postgres_database(schema=True))
    engine = make_engine(url)
    stack.callback(engine.dispose)
    return engine


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory) -> Iterator[Demo]:
    with ExitStack() as stack:
        engine = empty_engine(stack, request.param, tmp_path_factory.mktemp("seed"))
        with write_session(engine) as session:
            empty_before = database_is_empty(session)
            loaded = load_seed(session, *configured_seed(Settings()))
            empty_after = database_is_empty(session)
        yield Demo(engine, empty_before, empty_after, loaded)


def stored_rows(engine) -> dict[str, list[dict]]:
    """Every row of every table (JSON decoded, instants parsed), and PostgreSQL's next ids."""
    with Session(engine) as session:
        connection = session.connection()
        rows = {
            table.name: [
                dict(r)
                for r in connection.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).mappings()
            ]  # fmt: skip
            for table in SQLModel.metadata.sorted_tables
        }
        if engine.dialect.name == "postgresql":
            next_ids = "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
            rows["sequences"] = [dict(r) for r in connection.execute(text(next_ids)).mappings()]
    return rows


def write_demo_rows(path: Path, rows: dict[str, list[dict]]) -> None:
    """app/demo_rows.json's form: each table's columns, then one row per line (not the tables
    the database keeps itself)."""
    parts = []
    for name, table_rows in rows.items():
        if table_rows and name != "sequences" and name not in DERIVED_TABLES:
            columns = list(table_rows[0])
            lines = ",\n".join(
                json.dumps([row[c] for c in columns], default=iso, separators=(",", ":"))
                for row in table_rows
            )
            parts.append(f'"{name}": {{"columns": {json.dumps(columns, separators=(",", ":"))}, '
                         f'"rows": [\n{lines}\n]}}')  # fmt: skip
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")


def test_the_demo_rows_a_start_inserts_are_what_loading_the_demo_seed_writes(demo, tmp_path):
    with ExitStack() as stack:
        engine = empty_engine(stack, demo.engine.dialect.name, tmp_path)
        with write_session(engine) as session:
            load_configured_seed(session, Settings())
        inserted = stored_rows(engine)
    loaded = stored_rows(demo.engine)
    assert len(loaded["task"]) == 470
    if inserted != loaded:
        write_demo_rows(tmp_path / "demo_rows.json", loaded)
    assert inserted == loaded, f"app/demo_rows.json is stale: {tmp_path / 'demo_rows.json'} is new"


@pytest.fixture
def session(demo: Demo) -> Iterator[Session]:
    """A write session on the demo database whose changes are rolled back after the test."""
    with Session(demo.engine) as session:
        session.connection(execution_options={"write": True})
        yield session
        session.rollback()
    # PostgreSQL's sequences ignore a rollback: set them back to the rows that are left.
    with write_session(demo.engine) as session:
        sync_sequences(session)


def seed(session: Session, document: dict) -> dict:
    return load_seed(session, parse_seed(document, "seed.yaml"), "seed.yaml")


def seed_refusal(session: Session, document: dict) -> str:
    with pytest.raises(SeedError) as refused:
        seed(session, document)
    return refused.value.detail


def tasks_of(session: Session, project_id: int) -> list[Task]:
    return list(session.exec(select(Task).where(Task.project_id == project_id).order_by(Task.id)))


def annotations_of(session: Session, project_id: int) -> list[Annotation]:
    return list(
        session.exec(
            select(Annotation).where(Annotation.project_id == project_id).order_by(Annotation.id)
        )
    )


def test_the_demo_seed_fills_an_empty_database_with_what_the_readme_lists(demo, session):
    assert (demo.empty_before, demo.empty_after) == (True, False)
    assert demo.loaded == {
        "created": {"organizations": [1, 2], "users": [1, 2], "projects": [1, 2, 3],
                    "prompts": [1, 2], "versions": [1, 2, 3], "connections": [1, 2]},
        "updated": {},
    }  # fmt: skip
    organizations = session.exec(select(Organization).order_by(Organization.id))
    assert [(o.id, o.title, o.legacy_api_tokens_enabled) for o in organizations] == [
        (1, "Acme", True), (2, "Globex", True)
    ]  # fmt: skip
    users = session.exec(select(User).order_by(User.id))
    assert [(u.id, u.email, u.username, u.first_name, u.last_name, u.organization_id, u.token)
            for u in users] == [
        (1, "ada@acme.test", "ada", "Ada", "Lovelace", 1, "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        (2, "hank@globex.test", "hank", "Hank", "Scorpio", 2,
         "globex-hank-f9e8d7c6b5a4938271605f4e3d2c1b0a"),
    ]  # fmt: skip
    projects = session.exec(select(Project).order_by(Project.id))
    # Created by their organization's first user, at the seed's instant.
    assert [(p.id, p.title, p.organization_id, p.created_by_id, p.created_at, p.pinned_at)
            for p in projects] == [
        (1, "Support tickets", 1, 1, EPOCH, None),
        (2, "Escalated tickets", 1, 1, EPOCH, None),
        (3, "Invoices", 2, 2, EPOCH, None),
    ]  # fmt: skip
    # Task ids follow on from one project to the next.
    for project_id, first, count, truth in [(1, 1, 300, 90), (2, 301, 120, 40), (3, 421, 50, 20)]:
        tasks = tasks_of(session, project_id)
        assert [t.id for t in tasks] == list(range(first, first + count))
        assert [t.inner_id for t in tasks] == list(range(1, count + 1))
        assert [t.has_ground_truth for t in tasks] == ground_truth_positions(count, truth)
    prompts = session.exec(select(Prompt).order_by(Prompt.id))
    assert [(p.id, p.title, p.organization_id, p.created_by_id, p.created_at, p.updated_at,
             p.description, p.skill_name, p.input_fields, p.output_classes) for p in prompts] == [
        (1, "Ticket sentiment", 1, 1, EPOCH, EPOCH, None, "TextClassification", [], []),
        (2, "Invoice fields", 2, 2, EPOCH, EPOCH, None, "TextClassification", [], []),
    ]  # fmt: skip
    links = session.exec(select(PromptProject).order_by(PromptProject.project_id))
    assert [(link.prompt_id, link.project_id) for link in links] == [(1, 1), (1, 2), (2, 3)]
    versions = session.exec(select(PromptVersion).order_by(PromptVersion.id))
    assert [(v.id, v.prompt_id, v.title, v.provider, v.provider_model_id, v.accuracy,
             v.failure_rate, v.organization_id, v.created_by_id, v.created_at, v.updated_at)
            for v in versions] == [
        (1, 1, "baseline", "OpenAI", "gpt-4o-mini", 0.72, 0.0, 1, 1, EPOCH, EPOCH),
        (2, 1, "few-shot", "OpenAI", "gpt-4o", 0.91, 0.02, 1, 1, EPOCH, EPOCH),
        (3, 2, "v1", "OpenAI", "gpt-4o-mini", 0.85, 0.0, 2, 2, EPOCH, EPOCH),
    ]  # fmt: skip
    connections = session.exec(select(ModelProviderConnection).order_by(ModelProviderConnection.id))
    assert [(c.id, c.organization_id, c.created_by_id, c.provider, c.scope, c.api_key,
             c.created_at, c.updated_at) for c in connections] == [
        (1, 1, 1, "OpenAI", "Organization", "sk-demo-acme-not-a-real-key", EPOCH, EPOCH),
        (2, 2, 2, "OpenAI", "Organization", "sk-demo-globex-not-a-real-key", EPOCH, EPOCH),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("inner_id", "text", "label"),
    [
        (1, TICKET_ONE, "Positive"),
        (2, "Hi team, " + TICKET_ONE, "Positive"),
        (3, "Hello. " + TICKET_ONE, "Positive"),
        (4, "Hi there! " + TICKET_ONE, "Positive"),
        (5, "Good morning, " + TICKET_ONE, "Positive"),
        (6, TICKET_TWO, "Negative"),
        (13, "Hello. How do I change the billing address on my account?", "Neutral"),
        (60, "Good morning, " + TICKET_LAST, "Neutral"),
        (61, TICKET_ONE + " Thanks.", "Positive"),
        (121, TICKET_ONE + " Order A-1042.", "Positive"),
        (181, TICKET_ONE + " Sent from my phone.", "Positive"),
        (241, TICKET_ONE + " Best, Sam", "Positive"),
        (360, "Good morning, " + TICKET_LAST + " Account 88-311.", "Neutral"),
        (361, TICKET_ONE, "Positive"),
    ],
)
def test_generated_tasks_read_like_support_tickets_that_differ_for_360_tasks(inner_id, text, label):
    assert sample_ticket(inner_id) == (text, label)


def test_360_generated_tickets_in_a_row_all_differ():
    assert len({sample_ticket(inner_id)[0] for inner_id in range(1, 361)}) == 360


def test_generated_tasks_hold_their_ticket_and_ground_truth_tasks_its_sentiment(session):
    tasks = tasks_of(session, 1)
    for task in tasks:
        assert task.data == {"text": sample_ticket(task.inner_id)[0], "ticket": task.inner_id}
        assert (task.meta, task.allow_skip, task.created_at, task.updated_at) == (
            {}, True, EPOCH, EPOCH
        )  # fmt: skip
    assert tasks[0].data == {"text": TICKET_ONE, "ticket": 1}
    by_task = {a.task_id: a for a in annotations_of(session, 1)}
    assert sorted(by_task) == [t.id for t in tasks if t.has_ground_truth]
    assert len(annotations_of(session, 1)) == 90
    for task in tasks:
        if task.has_ground_truth:
            annotation = by_task[task.id]
            assert annotation.result == sample_ground_truth_for(sample_ticket(task.inner_id)[1])
            assert (annotation.ground_truth, annotation.was_cancelled, annotation.lead_time,
                    annotation.created_at, annotation.updated_at) == (True, False, None, EPOCH, EPOCH)  # fmt: skip
    # Task 4 (the first with ground truth) is about the first ticket: Positive.
    assert by_task[4].result == [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                                  "origin": "manual", "value": {"choices": ["Positive"]}}]  # fmt: skip


def test_an_organization_upserted_without_the_legacy_flag_keeps_it_and_a_new_one_has_it_off(
    session,
):
    assert seed(session, {"organizations": [{"id": 1, "title": "Acme Corp"},
                                            {"id": 9, "title": "Initech"},
                                            {"id": 2, "title": "Globex",
                                             "legacy_api_tokens_enabled": False}]}) == {
        "created": {"organizations": [9]},
        "updated": {"organizations": [1, 2]},
    }  # fmt: skip
    organizations = session.exec(select(Organization).order_by(Organization.id))
    assert [(o.id, o.title, o.legacy_api_tokens_enabled) for o in organizations] == [
        (1, "Acme Corp", True), (2, "Globex", False), (9, "Initech", False)
    ]  # fmt: skip


def test_a_user_upserted_keeps_its_own_token_and_takes_the_documents_fields(session):
    document = {"users": [{"id": 1, "username": "ada2", "organization": 1,
                           "token": "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"}]}  # fmt: skip
    assert seed(session, document) == {"created": {}, "updated": {"users": [1]}}
    ada = session.get(User, 1)
    assert (ada.username, ada.email, ada.first_name, ada.last_name) == ("ada2", "", "", "")


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ({"users": [{"id": 5, "username": "x", "organization": 7, "token": "t"}]},
         "seed.yaml: users[0].organization: organization 7 does not exist"),
        ({"users": [{"id": 5, "username": "x", "organization": 1,
                     "token": "globex-hank-f9e8d7c6b5a4938271605f4e3d2c1b0a"}]},
         "seed.yaml: users[0].token: the token is already user 2's"),
        ({"projects": [{"id": 9, "title": "p", "organization": 7}]},
         "seed.yaml: projects[0].organization: organization 7 does not exist"),
        ({"projects": [{"id": 9, "title": "p", "organization": 1, "created_by": 99}]},
         "seed.yaml: projects[0].created_by: user 99 does not exist in organization 1"),
        ({"prompts": [{"id": 9, "title": "p", "organization": 7}]},
         "seed.yaml: prompts[0].organization: organization 7 does not exist"),
        ({"prompts": [{"id": 9, "title": "p", "organization": 1, "associated_projects": [99]}]},
         "seed.yaml: prompts[0].associated_projects: project 99 does not exist in organization 1"),
        ({"prompts": [{"id": 2, "title": "p", "organization": 2,
                       "versions": [{"id": 3, "title": "v1"}, {"id": 2, "title": "v2"}]}]},
         "seed.yaml: prompts[0].versions: version 2 belongs to prompt 1"),
        ({"connections": [{"id": 9, "organization": 7}]},
         "seed.yaml: connections[0].organization: organization 7 does not exist"),
        ({"connections": [{"id": 9, "organization": 2, "created_by": 1}]},
         "seed.yaml: connections[0].created_by: user 1 does not exist in organization 2"),
        # Few-shot examples: a task of the prompt's organization, answered by its own annotation.
        ({"prompts": [{"id": 1, "title": "p", "organization": 1, "versions": [
            {"id": 1, "title": "v", "few_shot_examples": [{"task": 99999, "annotation": 1}]}]}]},
         "seed.yaml: prompts[0].versions: few-shot example task 99999 does not exist in "
         "organization 1"),
        ({"prompts": [{"id": 1, "title": "p", "organization": 1, "versions": [
            {"id": 1, "title": "v", "few_shot_examples": [{"task": 423, "annotation": 121}]}]}]},
         "seed.yaml: prompts[0].versions: few-shot example task 423 does not exist in "
         "organization 1"),
        ({"prompts": [{"id": 1, "title": "p", "organization": 1, "versions": [
            {"id": 1, "title": "v", "few_shot_examples": [{"task": 4, "annotation": 2}]}]}]},
         "seed.yaml: prompts[0].versions: few-shot example annotation 2 is not one of task 4's"),
        ({"prompts": [{"id": 1, "title": "p", "organization": 1, "versions": [
            {"id": 1, "title": "v", "few_shot_examples": [{"task": 4, "annotation": 99999}]}]}]},
         "seed.yaml: prompts[0].versions: few-shot example annotation 99999 is not one of task 4's"),
    ],
)  # fmt: skip
def test_a_seed_naming_what_the_database_lacks_is_refused_with_the_entry(session, document, detail):
    assert seed_refusal(session, document) == detail


def test_entries_without_a_creator_are_created_by_their_organizations_first_user(session):
    seed(session, {"users": [{"id": 7, "username": "carl", "organization": 2, "token": "carl"},
                             {"id": 8, "username": "dora", "organization": 1, "token": "dora"}],
                   "projects": [{"id": 9, "title": "p", "organization": 2},
                                {"id": 10, "title": "q", "organization": 2, "created_by": 7}],
                   "prompts": [{"id": 9, "title": "p", "organization": 2,
                                "versions": [{"id": 9, "title": "v"}]},
                               {"id": 10, "title": "q", "organization": 1, "created_by": 8,
                                "versions": [{"id": 10, "title": "w"}]}],
                   "connections": [{"id": 9, "organization": 2},
                                   {"id": 10, "organization": 2, "created_by": 7}]})  # fmt: skip
    assert [session.get(Project, i).created_by_id for i in (9, 10)] == [2, 7]
    assert [session.get(Prompt, i).created_by_id for i in (9, 10)] == [2, 8]
    assert [session.get(PromptVersion, i).created_by_id for i in (9, 10)] == [2, 8]
    assert [session.get(PromptVersion, i).organization_id for i in (9, 10)] == [2, 1]
    assert [session.get(ModelProviderConnection, i).created_by_id for i in (9, 10)] == [2, 7]


def test_a_prompt_upserted_keeps_its_links_and_takes_the_documents_fields(session):
    document = {"prompts": [{"id": 1, "title": "Sentiment", "organization": 1,
                             "associated_projects": [2], "description": "Tickets",
                             "skill_name": "NamedEntityRecognition", "input_fields": ["text"],
                             "output_classes": ["Positive", "Negative"],
                             "versions": [{"id": 2, "title": "few-shot", "accuracy": 0.5,
                                           "max_few_shot_examples": 3}]}]}  # fmt: skip
    assert seed(session, document) == {
        "created": {}, "updated": {"prompts": [1], "versions": [2]}
    }  # fmt: skip
    prompt = session.get(Prompt, 1)
    assert (prompt.title, prompt.description, prompt.skill_name, prompt.input_fields,
            prompt.output_classes) == (
        "Sentiment", "Tickets", "NamedEntityRecognition", ["text"], ["Positive", "Negative"]
    )  # fmt: skip
    links = session.exec(select(PromptProject.project_id).where(PromptProject.prompt_id == 1))
    assert sorted(links) == [1, 2]
    few_shot = session.get(PromptVersion, 2)
    # The version takes the document's values, its omitted fields their defaults.
    assert (few_shot.accuracy, few_shot.max_few_shot_examples, few_shot.prompt,
            few_shot.provider_model_id, few_shot.failure_rate) == (0.5, 3, "", "", 0.0)  # fmt: skip


def few_shot_rows(session: Session, version_id: int) -> list[tuple[int, int, int, datetime]]:
    rows = session.exec(
        select(FewShotExample).where(FewShotExample.version_id == version_id)
        .order_by(FewShotExample.id)
    )  # fmt: skip
    return [(r.task_id, r.annotation_id, r.order, r.created_at) for r in rows]


def version_with_examples(*examples: dict) -> dict:
    return {"prompts": [{"id": 1, "title": "Ticket sentiment", "organization": 1,
                         "versions": [{"id": 1, "title": "baseline",
                                       "few_shot_examples": list(examples)}]}]}  # fmt: skip


def test_a_versions_few_shot_examples_are_replaced_by_the_documents(session):
    # Tasks 4 and 7 are project 1's first ground-truth tasks: annotations 1 and 2.
    seed(session, version_with_examples({"task": 4, "annotation": 1, "order": 2},
                                        {"task": 7, "annotation": 2}))  # fmt: skip
    assert few_shot_rows(session, 1) == [(4, 1, 2, EPOCH), (7, 2, 0, EPOCH)]
    seed(session, version_with_examples({"task": 7, "annotation": 2, "order": 1}))
    assert few_shot_rows(session, 1) == [(7, 2, 1, EPOCH)]


def test_a_connection_upserted_keeps_when_it_was_created(session):
    created = datetime(2030, 5, 1, tzinfo=UTC)
    session.add(ModelProviderConnection(id=5, organization_id=1, provider="OpenAI",
                                        scope="Organization", created_at=created,
                                        updated_at=created))  # fmt: skip
    session.flush()
    assert seed(session, {"connections": [{"id": 5, "organization": 1, "provider": "Anthropic",
                                           "api_key": "sk-new"}]}) == {
        "created": {}, "updated": {"connections": [5]}
    }  # fmt: skip
    connection = session.get(ModelProviderConnection, 5)
    assert (connection.provider, connection.api_key, connection.created_by_id,
            connection.created_at) == ("Anthropic", "sk-new", 1, created)  # fmt: skip


def shrink_project_3(session: Session, tasks: int) -> dict:
    return seed(session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2,
                                        "tasks": tasks, "ground_truth": 0}]})  # fmt: skip


def a_run_of_project_3(session: Session) -> ModelRun:
    run = ModelRun(project_id=3, prompt_id=2, version_id=3, created_by_id=2, created_at=EPOCH)
    session.add(run)
    session.flush()
    return run


def attach(session: Session, kind: str, task_id: int) -> None:
    """Something that holds on to a task: a prediction, a failure, a pending step, an example."""
    if kind == "prediction":
        session.add(Prediction(task_id=task_id, project_id=3, created_at=EPOCH))
    elif kind == "failed prediction":
        run = a_run_of_project_3(session)
        session.add(
            FailedPrediction(run_id=run.id, task_id=task_id, version_id=3, created_at=EPOCH)
        )
    elif kind == "run task":
        session.add(RunTask(run_id=a_run_of_project_3(session).id, task_id=task_id))
    else:
        session.add(
            FewShotExample(version_id=3, task_id=task_id, annotation_id=1, created_at=EPOCH)
        )
    session.flush()


@pytest.mark.parametrize(
    "kind", ["prediction", "failed prediction", "run task", "few-shot example"]
)
def test_a_project_shrinks_down_to_a_task_held_by_a_run_and_no_further(session, kind):
    # Project 3's tasks are 421-470; shrinking to 10 keeps 421-430.
    attach(session, kind, 431)
    assert seed_refusal(
        session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2, "tasks": 10}]}
    ) == (
        "seed.yaml: projects[0].tasks: cannot shrink project 3 to 10 tasks: tasks beyond that "
        "have predictions or are in a run"
    )  # fmt: skip
    assert shrink_project_3(session, 11) == {"created": {}, "updated": {"projects": [3]}}
    assert [t.id for t in tasks_of(session, 3)] == list(range(421, 432))


def test_a_project_shrunk_to_nothing_loses_its_tasks_and_their_annotations(session):
    shrink_project_3(session, 0)
    assert (tasks_of(session, 3), annotations_of(session, 3)) == ([], [])
    # The other projects keep theirs.
    assert len(tasks_of(session, 2)) == 120


def test_a_project_grown_gets_generated_tasks_numbered_after_its_last(session):
    seed(session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2, "tasks": 52,
                                 "ground_truth": 20}]})  # fmt: skip
    new = tasks_of(session, 3)[50:]
    assert [(t.id, t.inner_id, t.data, t.meta, t.allow_skip, t.created_at) for t in new] == [
        (471, 51, {"text": sample_ticket(51)[0], "ticket": 51}, {}, True, EPOCH),
        (472, 52, {"text": sample_ticket(52)[0], "ticket": 52}, {}, True, EPOCH),
    ]  # fmt: skip


def test_fewer_ground_truth_tasks_drop_the_annotations_and_examples_of_the_others(session):
    before = {a.task_id: a.id for a in annotations_of(session, 3)}
    ground_truth = [t.id for t in tasks_of(session, 3) if t.has_ground_truth]
    # An example answered by an annotation that stays, and one by an annotation that goes.
    session.add(
        FewShotExample(
            version_id=3,
            task_id=ground_truth[-1],
            annotation_id=before[ground_truth[-1]],
            created_at=EPOCH,
        )
    )
    session.add(FewShotExample(version_id=3, task_id=ground_truth[0],
                               annotation_id=before[ground_truth[0]], created_at=EPOCH))  # fmt: skip
    session.flush()

    seed(session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2, "tasks": 50,
                                 "ground_truth": 10}]})  # fmt: skip

    tasks = tasks_of(session, 3)
    flagged = [t.id for t in tasks if t.has_ground_truth]
    assert [t.has_ground_truth for t in tasks] == ground_truth_positions(50, 10)
    after = {a.task_id: a.id for a in annotations_of(session, 3)}
    # Tasks still flagged keep their annotation (same id); the others have none.
    assert sorted(after) == flagged
    assert all(after[task_id] == before[task_id] for task_id in flagged if task_id in before)
    assert [row[0] for row in few_shot_rows(session, 3)] == [ground_truth[-1]]


def test_more_ground_truth_tasks_get_one_annotation_each(session):
    seed(session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2, "tasks": 50,
                                 "ground_truth": 50}]})  # fmt: skip
    annotations = annotations_of(session, 3)
    assert sorted(a.task_id for a in annotations) == list(range(421, 471))
    assert {a.ground_truth for a in annotations} == {True}


def test_listed_tasks_replace_the_data_and_annotations_of_the_first_tasks(session):
    run = a_run_of_project_3(session)
    session.add(Prediction(task_id=421, project_id=3, created_at=EPOCH, model_version="old"))
    session.add(Prediction(task_id=421, project_id=3, run_id=run.id, created_at=EPOCH))
    # Task 423 is project 3's first with ground truth: an example answered by its annotation.
    session.add(FewShotExample(version_id=3, task_id=423, annotation_id=
                               annotations_of(session, 3)[0].id, created_at=EPOCH))  # fmt: skip
    session.flush()
    assert [t.has_ground_truth for t in tasks_of(session, 3)[:3]] == [False, False, True]

    seed(session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2, "tasks": [
        {"data": {"text": "Total 12"}, "meta": {"source": "mail"},
         "annotations": [{"result": [{"type": "textarea"}], "lead_time": 2.5},
                         {"ground_truth": True, "was_cancelled": True}],
         "predictions": [{"score": 0.25, "model_version": "m1"}]},
        {"data": {"text": "Total 13"}},
        {"data": {"text": "Total 14"}},
        {"data": {"text": "Total 15"}, "annotations": [{"ground_truth": True}]},
        {"data": {"text": "Total 16"}, "annotations": [{"ground_truth": True}]},
    ]}]})  # fmt: skip

    # Five listed tasks: the project keeps its first five, which take the listed data.
    tasks = tasks_of(session, 3)
    assert [(t.id, t.inner_id, t.data, t.meta, t.has_ground_truth, t.updated_at) for t in tasks] == [
        (421, 1, {"text": "Total 12"}, {"source": "mail"}, False, EPOCH),
        (422, 2, {"text": "Total 13"}, {}, False, EPOCH),
        (423, 3, {"text": "Total 14"}, {}, False, EPOCH),
        (424, 4, {"text": "Total 15"}, {}, True, EPOCH),
        (425, 5, {"text": "Total 16"}, {}, True, EPOCH),
    ]  # fmt: skip
    annotations = annotations_of(session, 3)
    assert [(a.task_id, a.result, a.ground_truth, a.was_cancelled, a.lead_time, a.created_at)
            for a in annotations] == [
        (421, [{"type": "textarea"}], False, False, 2.5, EPOCH),
        (421, [], True, True, None, EPOCH),
        (424, [], True, False, None, EPOCH),
        (425, [], True, False, None, EPOCH),
    ]  # fmt: skip
    # The run's prediction stays (the run counted it); the other is replaced by the listed one.
    predictions = session.exec(select(Prediction).where(Prediction.task_id == 421)
                               .order_by(Prediction.id)).all()  # fmt: skip
    assert [(p.run_id, p.score, p.model_version, p.project_id) for p in predictions] == [
        (run.id, None, "", 3), (None, 0.25, "m1", 3)
    ]  # fmt: skip
    # The example answered by task 423's replaced annotation is gone with it.
    assert few_shot_rows(session, 3) == []


def test_listed_tasks_beyond_a_projects_own_are_created(session):
    seed(session, {"projects": [{"id": 9, "title": "Listed", "organization": 1, "tasks": [
        {"data": {"text": "a"}, "annotations": [{"ground_truth": True}]},
        {"data": {"text": "b"}, "predictions": [{"score": 0.5}]},
    ]}]})  # fmt: skip
    tasks = tasks_of(session, 9)
    assert [(t.id, t.inner_id, t.data, t.has_ground_truth, t.created_at) for t in tasks] == [
        (471, 1, {"text": "a"}, True, EPOCH), (472, 2, {"text": "b"}, False, EPOCH)
    ]  # fmt: skip


def project_tasks(session: Session, project_id: int) -> list[tuple[int, bool]]:
    return [(t.id, t.has_ground_truth) for t in tasks_of(session, project_id)]


def upsert(session: Session, **project) -> dict:
    return seed(session, {"projects": [{"id": 3, "title": "Invoices", "organization": 2,
                                        **project}]})  # fmt: skip


def test_a_project_shrinks_to_its_first_tasks_with_ground_truth_spread_again(session):
    before = project_tasks(session, 3)
    assert (len(before), sum(gt for _, gt in before)) == (50, 20)  # the demo seed's project 3

    assert upsert(session, tasks=5, ground_truth=2) == {"created": {}, "updated": {"projects": [3]}}

    ids = [task_id for task_id, _ in before[:5]]
    assert project_tasks(session, 3) == list(
        zip(ids, [False, False, True, False, True], strict=True)
    )


def test_a_project_grows_with_new_ids_after_the_highest_one(session):
    highest = max(session.exec(select(Task.id)))
    first_ids = [task_id for task_id, _ in project_tasks(session, 3)]

    upsert(session, tasks=52, ground_truth=52)

    assert project_tasks(session, 3) == [
        (task_id, True) for task_id in [*first_ids, highest + 1, highest + 2]
    ]


def test_a_project_grows_with_new_ids_after_the_highest_one_without_ground_truth(session):
    highest = max(session.exec(select(Task.id)))
    before = project_tasks(session, 3)

    upsert(session, tasks=52, ground_truth=0)

    assert project_tasks(session, 3) == [
        *[(task_id, False) for task_id, _ in before],
        (highest + 1, False),
        (highest + 2, False),
    ]


def test_a_thousand_ground_truth_tasks_upserted_again_all_keep_their_ground_truth(session):
    document = {"projects": [{"id": 9, "title": "Big", "organization": 1, "tasks": 1000,
                              "ground_truth": 1000}]}  # fmt: skip
    seed(session, document)
    seed(session, document)
    assert [gt for _, gt in project_tasks(session, 9)] == [True] * 1000
    assert len(annotations_of(session, 9)) == 1000
