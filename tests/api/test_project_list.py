"""The project list of an organization of its own: every filter with the spellings
django-filter reads, every ordering field both ways with its tie-break, the default order (pinned
first, newest first), and DRF's page-number pagination at its page boundaries."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import Emulator

from .envelope import assert_error, assert_invalid

TOKEN = "initech-list-0123456789abcdef"
BULK_TOKEN = "umbrella-list-0123456789abcdef"  # a user of an organization of 31 projects
# (id, title, description, created_at, pinned_at)
PROJECTS = [
    (9601, "Alpha reviews", "About widgets", "2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z"),
    (9602, "Beta Widgets", "", "2025-02-01T00:00:00Z", "2025-06-01T00:00:00Z"),
    (9603, "Gamma", "Plain", "2025-04-01T00:00:00Z", None),
    (9604, "Delta", "Plain", "2025-04-01T00:00:00Z", None),
    (9605, "Epsilon", "Plain", "2025-01-15T00:00:00Z", None),
]
DEFAULT_ORDER = [9602, 9601, 9604, 9603, 9605]  # pinned (latest pin first), then newest, id


@pytest.fixture(scope="module")
def initech(server: Emulator) -> Iterator[httpx.Client]:
    """A user of an organization whose only projects are PROJECTS (the third with source
    interface 5)."""
    with server.client(None) as control:
        seeded = control.post(
            "/_emulator/seed",
            json={
                "organizations": [
                    {"id": 96, "title": "Initech", "legacy_api_tokens_enabled": True},
                    {"id": 97, "title": "Umbrella", "legacy_api_tokens_enabled": True},
                ],
                "users": [{"id": 96, "username": "bill", "organization": 96, "token": TOKEN},
                          {"id": 97, "username": "ada", "organization": 97, "token": BULK_TOKEN}],
                "projects": [
                    {"id": i, "title": t, "description": d, "organization": 96,
                     "created_at": c, "pinned_at": p}
                    for i, t, d, c, p in PROJECTS
                ] + [{"id": 9700 + n, "title": f"Bulk {n}", "organization": 97}
                     for n in range(31)],
            },
        )  # fmt: skip
        assert seeded.status_code == 200, seeded.text
    with server.client(TOKEN) as client:
        client.patch("/api/projects/9603/", json={"source_interface_id": 5}).raise_for_status()
        yield client


def ids(client: httpx.Client, **params: str) -> list[int]:
    response = client.get("/api/projects/", params=params)
    assert response.status_code == 200, (params, response.text)
    body = response.json()
    assert body["count"] == len(body["results"]), params
    return [p["id"] for p in body["results"]]


def test_default_order_is_pinned_first_latest_pin_first_then_newest_then_highest_id(initech):
    assert ids(initech) == DEFAULT_ORDER
    assert ids(initech, ordering="") == DEFAULT_ORDER
    assert ids(initech, ordering="members,-nothing") == DEFAULT_ORDER  # unknown fields: none


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("id", [9601, 9602, 9603, 9604, 9605]),
        ("-id", [9605, 9604, 9603, 9602, 9601]),
        ("title", [9601, 9602, 9604, 9605, 9603]),
        ("-title", [9603, 9605, 9604, 9602, 9601]),
        # Equal creation instants: the highest id first.
        ("created_at", [9605, 9602, 9601, 9604, 9603]),
        ("-created_at", [9604, 9603, 9601, 9602, 9605]),
        (" -created_at , id ", [9603, 9604, 9601, 9602, 9605]),
        ("created_at,-created_at,-title", [9605, 9602, 9601, 9603, 9604]),
        ("unknown,-id", [9605, 9604, 9603, 9602, 9601]),
    ],
)
def test_ordering_by_each_field_both_ways(initech, ordering, expected):
    assert ids(initech, ordering=ordering) == expected


def test_ordering_by_pin_instant_both_ways(initech):
    assert ids(initech, ordering="pinned_at", filter="pinned_only") == [9601, 9602]
    assert ids(initech, ordering="-pinned_at", filter="pinned_only") == [9602, 9601]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"archived": "true"}, []),
        ({"archived": "TRUE"}, []),
        ({"archived": "1"}, []),
        ({"archived": "false"}, DEFAULT_ORDER),
        ({"archived": "0"}, DEFAULT_ORDER),
        ({"archived": ""}, DEFAULT_ORDER),
        ({"filter": "pinned_only"}, [9602, 9601]),
        ({"filter": "exclude_pinned"}, [9604, 9603, 9605]),
        ({"filter": "all"}, DEFAULT_ORDER),
        ({"filter": ""}, DEFAULT_ORDER),
        ({"ids": "9603,9601"}, [9601, 9603]),
        ({"ids": " 9603 , ,9605,"}, [9603, 9605]),
        ({"ids": "0,-9601,99999999999999999999,9604"}, [9604]),
        ({"ids": ""}, DEFAULT_ORDER),
        ({"ids": "1,2,3"}, []),  # another organization's projects
        ({"search": "widgets"}, [9602, 9601]),  # the title or the description
        ({"search": "WIDGETS"}, [9602, 9601]),
        ({"search": "gam"}, [9603]),
        ({"search": ""}, DEFAULT_ORDER),
        ({"title": "WIDGETS"}, [9602]),  # the title only
        ({"title": "a"}, [9602, 9601, 9604, 9603]),
        ({"title": "plain"}, []),
        ({"source_interface_id": "5"}, [9603]),
        ({"source_interface_id": "5.0"}, [9603]),
        ({"source_interface_id": "-5"}, []),
        ({"source_interface_id": "5.5"}, []),
        ({"source_interface_id": "1e30"}, []),
        ({"source_interface_id": ""}, DEFAULT_ORDER),
        ({"state": "CREATED"}, DEFAULT_ORDER),
        ({"state": "created"}, []),
        ({"state": ""}, DEFAULT_ORDER),
        ({"workspaces": "96"}, DEFAULT_ORDER),
        ({"workspaces": "96.0"}, DEFAULT_ORDER),
        ({"workspaces": "1"}, []),
        ({"workspaces": ""}, DEFAULT_ORDER),
        ({"title": "a", "filter": "exclude_pinned", "ordering": "-title"}, [9603, 9604]),
    ],
)
def test_each_filter_of_the_list(initech, params, expected):
    assert ids(initech, **params) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ids", "9601,x", "Enter a whole number."),
        ("ids", "1.5", "Enter a whole number."),
        ("source_interface_id", "five", "Enter a number."),
        ("workspaces", "main", "Enter a number."),
    ],
)
def test_a_filter_value_that_is_not_a_number_is_a_400(initech, name, value, message):
    assert_invalid(initech.get("/api/projects/", params={name: value}), {name: [message]})


def test_pages_of_the_list_and_the_links_between_them(server, initech):
    url = f"{server.url}/api/projects/"

    def page(**params: str) -> dict:
        response = initech.get("/api/projects/", params={"ordering": "id", **params})
        assert response.status_code == 200, (params, response.text)
        return response.json()

    first = page(page_size="2")
    assert (first["count"], [p["id"] for p in first["results"]]) == (5, [9601, 9602])
    assert first["previous"] is None
    assert first["next"] == f"{url}?ordering=id&page_size=2&page=2"
    second = initech.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [9603, 9604]
    assert second["previous"] == f"{url}?ordering=id&page_size=2"
    assert second["next"] == f"{url}?ordering=id&page_size=2&page=3"
    last = page(page_size="2", page="last")
    assert [p["id"] for p in last["results"]] == [9605]
    assert last["previous"] == f"{url}?ordering=id&page_size=2&page=2"
    assert last["next"] is None
    assert page(page_size="2", page="3") == last
    whole = page(page_size="5")
    assert (len(whole["results"]), whole["next"], whole["previous"]) == (5, None, None)
    assert initech.get("/api/projects/").json()["next"] is None
    for size in ("0", "-1", "two", "", "1000", "1001"):
        assert len(page(page_size=size)["results"]) == 5, size
    for number in ("4", "0", "-1", "first", ""):
        response = initech.get("/api/projects/", params={"page_size": "2", "page": number})
        assert_error(response, 404, "Invalid page.")


def test_the_default_page_holds_thirty_projects(server, initech):
    with server.client(BULK_TOKEN) as umbrella:
        first = umbrella.get("/api/projects/", params={"ordering": "id"}).json()
        second = umbrella.get(first["next"]).json()
    assert (first["count"], len(first["results"]), len(second["results"])) == (31, 30, 1)
    assert [p["id"] for p in first["results"]] == list(range(9700, 9730))
    assert first["next"] == f"{server.url}/api/projects/?ordering=id&page=2"
    assert second["previous"] == f"{server.url}/api/projects/?ordering=id"


COUNTS = ["task_number", "finished_task_number", "total_predictions_number",
          "total_annotations_number", "num_tasks_with_annotations", "useful_annotation_number",
          "ground_truth_number", "skipped_annotations_number"]  # fmt: skip


@pytest.mark.parametrize(
    ("include", "shown"),
    [
        (None, COUNTS),
        ("", COUNTS),
        (" task_number , ground_truth_number,title,unknown", ["task_number",
                                                             "ground_truth_number"]),
        ("title", []),
    ],
)  # fmt: skip
def test_include_narrows_the_count_fields_of_each_listed_project(initech, include, shown):
    params = {"ids": "9603"} | ({"include": include} if include is not None else {})
    (item,) = initech.get("/api/projects/", params=params).json()["results"]

    assert [name for name in COUNTS if name in item] == shown
    assert item["title"] == "Gamma" and item["description_short"] == "Plain"
    assert {n: item[n] for n in shown} == dict.fromkeys(shown, 0)


def test_counts_and_creator_of_each_project_in_the_list_and_alone(initech):
    response = initech.post(
        "/api/projects/9605/import",
        json=[{"data": {"n": 1}, "annotations": [{"result": [], "ground_truth": True}],
               "predictions": [{"result": []}, {"result": []}]},
              {"data": {"n": 2}, "annotations": [{"result": []}]},
              {"data": {"n": 3}, "predictions": [{"result": []}]}],
    )  # fmt: skip
    assert response.status_code == 201, response.text
    expected = {"task_number": 3, "ground_truth_number": 1, "total_predictions_number": 3,
                "finished_task_number": 1, "queue_left": 2}  # fmt: skip
    empty = dict.fromkeys(expected, 0)

    listed = {p["id"]: p for p in initech.get("/api/projects/").json()["results"]}
    alone = initech.get("/api/projects/9605/").json()

    for project in (listed[9605], alone):
        assert {n: project[n] for n in expected} == expected
        assert project["created_by"]["id"] == 96
    for other in (9601, 9602, 9603, 9604):
        assert {n: listed[other][n] for n in expected} == empty, other


def test_an_ordering_naming_fields_thousands_of_times_orders_by_their_first_mention(initech):
    assert ids(initech, ordering="-id," + "id,title," * 3_000) == [9605, 9604, 9603, 9602, 9601]
