"""How close each endpoint and behaviour is to the real server. The README renders this list."""

EXACT = "exact"  # observed on the real server or fixed by the public API definition
APPROXIMATED = "approximated"  # the real behaviour is known in outline; details are modelled
DECISION = "decision"  # the real behaviour is not public; the emulator chose

FIDELITY: list[dict[str, str]] = [
    {"area": "POST inference-runs", "level": EXACT,
     "note": "Path, body fields, limits, 201 and the ModelRun shape follow the public definition."},
    {"area": "GET inference-runs", "level": EXACT,
     "note": "Bare array, filters project, project_subset, parent_model and DRF ordering (unknown fields ignored)."},
    {"area": "Default list order", "level": DECISION,
     "note": "Without ordering, runs are listed by id, oldest first."},
    {"area": "POST cancel", "level": APPROXIMATED,
     "note": "200 {\"detail\": \"Inference run canceled.\"} for Pending, InProgress or already Canceled runs."},
    {"area": "Cancel of a finished run", "level": DECISION,
     "note": "A Completed or Failed run cannot be canceled: 400 in the envelope, never 409 (the client would retry)."},
    {"area": "Error envelope", "level": EXACT,
     "note": "id, status_code, version, detail, exc_info, validation_errors in that order; 400 for validation."},
    {"area": "Body validation", "level": EXACT,
     "note": "DRF's coercion and messages, every bad field at once, read-only and unknown keys ignored."},
    {"area": "Authentication", "level": EXACT,
     "note": "Token and Bearer JWT with DRF's 401 messages and WWW-Authenticate: Token; the header is split on ASCII whitespace only."},
    {"area": "Personal access tokens", "level": EXACT,
     "note": "POST/GET /api/token/ and /api/token/refresh/ with simplejwt's claims and messages; access tokens live 300 s."},
    {"area": "Token lifetimes", "level": DECISION,
     "note": "Refresh tokens live refresh_token_days (365) days; token times follow the wall clock, not the virtual clock."},
    {"area": "Unknown prompt, version or run", "level": DECISION,
     "note": "404 \"No ModelInterface matches the given query.\" (ThirdPartyModelVersion, ModelRun likewise), checked before the body."},
    {"area": "Project of another organization", "level": EXACT,
     "note": "400 Invalid pk \"N\" - object does not exist., as for an unknown project."},
    {"area": "Default project_subset", "level": EXACT,
     "note": "HasGT when omitted, as Label Studio's model defaults it."},
    {"area": "total_tasks, total_predictions, total_correct_predictions", "level": DECISION,
     "note": "total_tasks is the subset size at start; predictions count successes; correct ones are counted on ground-truth tasks only. Sent on create, they must keep 0 <= correct <= predictions <= tasks (else 400) and are replaced at start."},
    {"area": "Status and timestamp timing", "level": DECISION,
     "note": "Pending for queue_delay_seconds, then InProgress (triggered_at) with one batch every batch_size/tasks_per_second seconds; completed_at when the run ends, also for Failed and Canceled."},
    {"area": "Failed runs", "level": DECISION,
     "note": "A run ends Failed when its share of failed predictions is above failure_threshold (0.5)."},
    {"area": "Sample subset", "level": DECISION,
     "note": "sample_subset_size tasks, or the policy's default (100) when null, chosen by a seeded permutation of task ids."},
    {"area": "Custom subset", "level": APPROXIMATED,
     "note": "Data Manager filter groups on filter:tasks:id and filter:tasks:ground_truth; other filters are a 400 that says so."},
    {"area": "GET /api/projects/{id}/subsets", "level": APPROXIMATED,
     "note": "All, HasGT and Sample with their counts; columns_schema is not produced."},
    {"area": "GET prediction-count", "level": DECISION,
     "note": "existing_predictions: subset tasks with a successful prediction of the version; tasks_to_run: the rest."},
    {"area": "Ids beyond 32 bits", "level": DECISION,
     "note": "Name no row: 404 in a URL, Invalid pk in a body, an empty list as a list filter."},
    {"area": "Values that cannot be stored", "level": DECISION,
     "note": "A JSON body (API or control plane) with NaN, Infinity, a number beyond a float's range or a lone surrogate is a 400 JSON parse error; a datetime that leaves datetime's range in UTC is 400 \"Datetime value out of range.\"; repeated ordering fields are dropped."},
    {"area": "Wrong method", "level": APPROXIMATED,
     "note": "405 after authentication with the path's methods in Allow; OPTIONS is not served."},
    {"area": "Control plane (/_emulator)", "level": DECISION,
     "note": "The emulator's own: clock, policy, run transitions, outcomes, data, journal, health. Open on loopback; elsewhere an admin token (generated when none is set) guards all of it but health, and /metrics."},
    {"area": "X-Emulator-Outcome", "level": DECISION,
     "note": "With an admin token in force, forcing an outcome needs X-Emulator-Admin-Token too; else 403 and no run is created."},
    # The console and the API docs pages.
    {"area": "/, /docs, /redoc", "level": DECISION,
     "note": "The emulator's own pages: the console at / (part of the control plane: off with it, behind its admin token), and Swagger UI and ReDoc served from copies inside the package, never from a CDN."},
]  # fmt: skip


def markdown_table() -> str:
    """The fidelity list as the README shows it."""
    lines = ["| area | fidelity | note |", "| --- | --- | --- |"]
    lines += [f"| {e['area']} | {e['level']} | {e['note']} |" for e in FIDELITY]
    return "\n".join(lines)
