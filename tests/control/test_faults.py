"""Fault rules through the control plane: validation, listing with counts, removal, reset,
export and import, the journal and the metrics."""

import copy

import httpx
import pytest
from conftest import HANK_TOKEN, TLS
from prometheus_client.parser import text_string_to_metric_families

from app.lifecycle.faults import draw

from .support import RUNS, assert_error, assert_invalid, ok

FAULTS = "/_emulator/faults"
RULE_PATH = "/api/prompts/*/versions/*/inference-runs"


def add(control: httpx.Client, **rule: object) -> dict:
    return ok(control.post(FAULTS, json={"path": RULE_PATH, **rule}), 201)


def rule_body(rule_id: int, **fields: object) -> dict:
    """A whole rule as the control plane shows it."""
    return {
        "id": rule_id,
        "method": None,
        "path": RULE_PATH,
        "status": None,
        "delay_ms": None,
        "drop": False,
        "retry_after": None,
        "times": None,
        "probability": None,
        "after": 0,
        "user": None,
        "organization": None,
        "matched": 0,
        "fired": 0,
    } | fields


def run_count(control: httpx.Client) -> int:
    return len(ok(control.get("/_emulator/export"))["tables"]["model_run"])


def test_a_rule_is_stored_and_listed_with_its_counts(control, ada):
    rule = add(control, method="POST", status=429, times=2, retry_after=3)
    assert rule == rule_body(rule["id"], method="POST", status=429, times=2, retry_after=3)
    for _ in range(3):
        ada.post(RUNS, json={"project": 1})
    listed = ok(control.get(FAULTS))
    assert listed == [rule | {"matched": 2, "fired": 2}]


def test_a_throttled_create_answers_drf_wording_and_creates_nothing(control, ada):
    add(control, method="POST", status=429, times=1, retry_after=3)
    response = ada.post(RUNS, json={"project": 1})
    assert_error(response, 429, "Request was throttled. Expected available in 3 seconds.")
    assert response.headers["retry-after"] == "3"
    assert run_count(control) == 0
    # Spent: the next one goes through.
    ok(ada.post(RUNS, json={"project": 1}), 201)
    assert run_count(control) == 1


def test_throttling_without_a_wait_names_none(control, ada):
    add(control, status=429)
    response = ada.get(RUNS)
    assert_error(response, 429, "Request was throttled.")
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("status", "detail"),
    [(500, "Internal server error"), (408, "Request timed out."), (409, "Conflict.")],
)
def test_application_statuses_answer_in_the_envelope(control, ada, status, detail):
    add(control, status=status, times=1)
    assert_error(ada.get(RUNS), status, detail)


@pytest.mark.parametrize(
    ("status", "title"),
    [(502, "502 Bad Gateway"), (503, "503 Service Temporarily Unavailable"),
     (504, "504 Gateway Time-out")],
)  # fmt: skip
def test_gateway_statuses_answer_as_nginx_does(control, ada, status, title):
    add(control, status=status, retry_after=7 if status == 503 else None)
    response = ada.get(RUNS)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"<title>{title}</title>" in response.text
    assert "<hr><center>nginx</center>" in response.text
    assert response.headers.get("retry-after") == ("7" if status == 503 else None)


def test_a_fault_comes_before_authentication(control, emulator):
    add(control, status=503)
    with emulator.client(token="not-a-token") as stranger:
        assert stranger.get(RUNS).status_code == 503


def test_method_path_and_after_select_the_requests(control, ada):
    add(control, method="POST", status=500, after=2)
    assert ada.get(RUNS).status_code == 200  # another method
    assert ada.get("/api/projects/1/subsets").status_code == 200  # another path
    ok(ada.post(RUNS, json={"project": 1}), 201)
    ok(ada.post(RUNS, json={"project": 1}), 201)
    assert ada.post(RUNS, json={"project": 1}).status_code == 500
    assert ok(control.get(FAULTS))[0]["matched"] == 3
    assert ok(control.get(FAULTS))[0]["fired"] == 1


def test_a_star_matches_within_one_segment_and_two_stars_across(control, ada):
    add(control, status=500)
    assert ada.post(f"{RUNS}/1/cancel").status_code == 404  # longer path: not matched
    ok(control.delete(FAULTS))
    ok(control.post(FAULTS, json={"path": "/api/**/cancel", "status": 500}), 201)
    assert ada.post(f"{RUNS}/1/cancel").status_code == 500


def test_user_and_organization_scope_a_rule(control, ada, emulator):
    add(control, status=429, user=1)
    add(control, status=503, organization=2)
    assert ada.get(RUNS).status_code == 429
    with emulator.client(token=HANK_TOKEN) as hank:
        assert hank.get("/api/prompts/2/versions/3/inference-runs").status_code == 503
        # The X-Api-Key header names the caller too.
        response = httpx.get(
            f"{emulator.url}/api/prompts/2/versions/3/inference-runs",
            headers={"X-Api-Key": HANK_TOKEN},
            verify=TLS,
        )
        assert response.status_code == 503
    with emulator.client(token=None) as anonymous:
        assert anonymous.get(RUNS).status_code == 401


def test_probability_is_fixed_by_the_random_seed(control, ada):
    def pattern() -> tuple[int, list[int]]:
        ok(control.delete(FAULTS))
        rule = add(control, status=500, probability=0.5)
        return rule["id"], [ada.get(RUNS).status_code for _ in range(16)]

    rule_id, first = pattern()
    assert set(first) == {200, 500}
    # The n-th match of a rule fires when the draw of (seed, rule, n) is below its probability.
    seed = ok(control.get("/_emulator/policy"))["random_seed"]
    assert first == [500 if draw(seed, rule_id, n) < 0.5 else 200 for n in range(1, 17)]
    ok(control.put("/_emulator/policy", json={"random_seed": seed + 1}))
    rule_id, other = pattern()
    assert other == [500 if draw(seed + 1, rule_id, n) < 0.5 else 200 for n in range(1, 17)]
    # A new rule has a new id, hence its own draws; the same id and seed repeat them.
    control.post("/_emulator/reset")
    _, again = pattern()
    control.post("/_emulator/reset")
    assert pattern()[1] == again


def test_draws_are_uniform_and_fixed_by_seed_rule_and_match():
    draws = [draw(7, 3, n) for n in range(1, 2001)]
    assert all(0 <= d < 1 for d in draws) and 0.45 < sum(draws) / len(draws) < 0.55
    assert draw(7, 3, 1) == draws[0] != draw(8, 3, 1)
    assert draw(7, 3, 1) != draw(7, 4, 1)


def test_a_delay_rule_answers_normally(control, ada):
    add(control, method="GET", delay_ms=300, times=1)
    response = ada.get(RUNS)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.3
    assert ok(control.get(FAULTS))[0]["fired"] == 1


def test_a_dropping_rule_closes_the_connection_without_an_answer(control, ada):
    rule = add(control, method="POST", drop=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        ada.post(RUNS, json={"project": 1})
    assert run_count(control) == 0  # the dropped create made nothing
    assert ada.post(RUNS, json={"project": 1}).status_code == 201
    # A spent rule is passed over without counting the match.
    assert ok(control.get(FAULTS)) == [rule_body(rule["id"], method="POST", drop=True, times=1,
                                                 matched=1, fired=1)]  # fmt: skip
    # The journal notes the dropped request with status 0 (no answer) and the rule that fired.
    journaled = ok(control.get("/_emulator/requests", params={"method": "POST"}))
    assert [(e["status"], e["fault"]) for e in journaled] == [(201, None), (0, rule["id"])]


def test_control_paths_are_never_faulted(control):
    ok(control.post(FAULTS, json={"path": "/**", "status": 500}), 201)
    assert control.get(FAULTS).status_code == 200
    ok(control.delete(FAULTS))


@pytest.mark.parametrize(
    ("rule", "errors"),
    [
        ({"path": RULE_PATH, "status": 404}, "status"),
        ({"path": RULE_PATH, "status": 429, "times": 0}, "times"),
        ({"path": RULE_PATH, "delay_ms": 60001}, "delay_ms"),
        ({"path": RULE_PATH, "status": 500, "probability": 1.5}, "probability"),
        ({"path": RULE_PATH, "status": 500, "colour": "red"}, "colour"),
        ({"path": "api/x", "status": 500}, "path"),
        ({"path": RULE_PATH, "method": "FETCH", "status": 500}, "method"),
        ({"path": RULE_PATH, "status": 500, "after": -1}, "after"),
        ({"path": RULE_PATH, "status": "500"}, "status"),
        ({"status": 500}, "path"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(control, rule, errors):
    response = control.post(FAULTS, json=rule)
    assert response.status_code == 400, response.text
    assert list(response.json()["validation_errors"]) == [errors]
    assert ok(control.get(FAULTS)) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"path": RULE_PATH},
        {"path": RULE_PATH, "status": 500, "drop": True},
        {"path": RULE_PATH, "status": 500, "retry_after": 3},
    ],
)
def test_rules_that_contradict_themselves_are_refused(control, rule):
    response = control.post(FAULTS, json=rule)
    assert response.status_code == 400
    assert list(response.json()["validation_errors"]) == ["non_field_errors"]


def test_unknown_users_and_organizations_are_refused(control):
    response = control.post(
        FAULTS, json={"path": RULE_PATH, "status": 500, "user": 99, "organization": 98}
    )
    assert_invalid(
        response,
        {
            "user": ['Invalid pk "99" - object does not exist.'],
            "organization": ['Invalid pk "98" - object does not exist.'],
        },
    )


def test_rules_are_removed_one_or_all(control):
    first = add(control, status=500)
    second = add(control, status=503)
    assert control.delete(f"{FAULTS}/{first['id']}").status_code == 204
    assert [r["id"] for r in ok(control.get(FAULTS))] == [second["id"]]
    assert_error(control.delete(f"{FAULTS}/{first['id']}"), 404,
                 "No FaultRule matches the given query.")  # fmt: skip
    add(control, status=504)
    assert ok(control.delete(FAULTS)) == {"detail": "2 fault rules removed.", "removed": 2}
    assert ok(control.get(FAULTS)) == []


def test_reset_removes_the_rules(control, ada):
    add(control, status=500)
    ok(control.post("/_emulator/reset"))
    assert ok(control.get(FAULTS)) == []
    assert ada.get(RUNS).status_code == 200


def test_export_and_import_carry_the_rules(control, ada, boot_export):
    rule = add(control, status=500, times=3, user=1)
    ada.get(RUNS)
    document = ok(control.get("/_emulator/export"))
    assert document["tables"]["fault_rule"] == [
        {"id": rule["id"], "method": None, "path": RULE_PATH, "status": 500, "delay_ms": None,
         "drop": False, "retry_after": None, "times": 3, "probability": None, "after": 0,
         "user_id": 1, "organization_id": None, "matched": 1, "fired": 1},
    ]  # fmt: skip
    ok(control.post("/_emulator/import", json=boot_export))
    assert ok(control.get(FAULTS)) == []
    ok(control.post("/_emulator/import", json=copy.deepcopy(document)))
    assert ok(control.get(FAULTS)) == [rule | {"matched": 1, "fired": 1}]
    assert ok(control.get("/_emulator/export")) == document
    # A rule added after an import gets a fresh id.
    assert add(control, status=503)["id"] == rule["id"] + 1


def test_the_journal_names_the_rule_that_fired(control, ada):
    rule = add(control, method="POST", status=429, times=1)
    ada.post(RUNS, json={"project": 1})
    ada.post(RUNS, json={"project": 1})
    second, first = ok(control.get("/_emulator/requests"))[:2]
    assert (first["status"], first["fault"], first["user_id"]) == (429, rule["id"], None)
    assert (second["status"], second["fault"], second["user_id"]) == (201, None, 1)


def fault_samples(control: httpx.Client) -> dict[tuple[str, str], float]:
    text = control.get("/metrics").text
    return {
        (s.labels["rule"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "lse_faults"
        for s in family.samples
        if s.name == "lse_faults_total"
    }


def test_metrics_count_faults_by_rule_and_status(control, ada):
    rule = add(control, status=503, times=2)
    key = (str(rule["id"]), "503")
    # The counters live as long as the process; a reset may hand out the same id again.
    before = fault_samples(control).get(key, 0)
    for _ in range(3):
        ada.get(RUNS)
    assert fault_samples(control)[key] == before + 2
