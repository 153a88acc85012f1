"""The seed document: its checks with the entry and problem named, the files it is read from,
where ground truth falls, and an upsert that reshapes a project's tasks."""

from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.config import Settings
from app.db import make_engine, write_session
from app.lifecycle.clock import Clock
from app.main import prepare_database
from app.migrate import migrate
from app.models import Task
from app.seed import (
    DEMO_SEED,
    SeedError,
    configured_seed,
    ground_truth_positions,
    load_seed,
    parse_seed,
    read_seed_file,
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


@pytest.fixture
def engine(migrated_database_url):
    settings = Settings(database_url=migrated_database_url)
    engine = make_engine(settings.sqlalchemy_url())
    migrate(engine)
    prepare_database(engine, settings, Clock())
    yield engine
    engine.dispose()


def project_tasks(engine, project_id: int) -> list[tuple[int, bool]]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Task.id, Task.has_ground_truth)
                .where(Task.project_id == project_id)
                .order_by(Task.id)
            )
        )


def upsert(engine, **project) -> dict:
    document = parse_seed({"projects": [{"id": 3, "title": "Invoices", "organization": 2,
                                         **project}]}, "doc")  # fmt: skip
    with write_session(engine) as session:
        return load_seed(session, document, "doc")


def test_a_project_shrinks_to_its_first_tasks_with_ground_truth_spread_again(engine):
    before = project_tasks(engine, 3)
    assert (len(before), sum(gt for _, gt in before)) == (50, 20)  # the demo seed's project 3

    assert upsert(engine, tasks=5, ground_truth=2) == {"created": {}, "updated": {"projects": [3]}}

    ids = [task_id for task_id, _ in before[:5]]
    assert project_tasks(engine, 3) == list(
        zip(ids, [False, False, True, False, True], strict=True)
    )


def test_a_project_grows_with_new_ids_after_the_highest_one(engine):
    with Session(engine) as session:
        highest = max(session.exec(select(Task.id)))
    first_ids = [task_id for task_id, _ in project_tasks(engine, 3)]

    upsert(engine, tasks=52, ground_truth=52)

    assert project_tasks(engine, 3) == [
        (task_id, True) for task_id in [*first_ids, highest + 1, highest + 2]
    ]


def test_a_project_emptied_has_no_tasks(engine):
    upsert(engine, tasks=0)
    assert project_tasks(engine, 3) == []


def test_a_project_grows_with_new_ids_after_the_highest_one_without_ground_truth(engine):
    with Session(engine) as session:
        highest = max(session.exec(select(Task.id)))
    before = project_tasks(engine, 3)

    upsert(engine, tasks=52, ground_truth=0)

    assert project_tasks(engine, 3) == [
        *[(task_id, False) for task_id, _ in before],
        (highest + 1, False),
        (highest + 2, False),
    ]
