"""The read endpoints, each against the floor answering a body of the same size on the same path.

The state is loaded through POST /_emulator/import of a generated export document (built from
one real run; not through the API): 50 prompts of the demo organization with 10 versions each
and 2 completed runs per version, a 1,000-task project (project 1) whose every task has 20
predictions (from 20 runs of prompt 1 version 1). Then, for each read:

- prompts: GET /api/prompts/ (the 50 prompts, one page);
- versions: GET /api/prompts/1/versions (10 versions);
- tasks: GET /api/tasks/?project=1&page_size=100 (a page of 100 of the 1,000 tasks, task_only);
- tasks-all: the same page with fields=all (each task with its 20 predictions nested);
- predictions: GET /api/predictions/?task=N (the 20 predictions of a task);
- whoami: GET /api/current-user/whoami.

Latency (p50, p99) is one client polling back to back; throughput is 16 clients. The floor
(bench/floor_app.py) answers the emulator's own answer, encoded beforehand, on the same path
after the same token check. Goals: p99 <= 2x the floor's; throughput >= 0.5 of the floor's.
Those polls repeat one URL on an unchanged database, which on SQLite the emulator answers from
what it kept (app/kept.py); a third phase, one client, gives each request a URL not answered
before (a parameter the route ignores, counted), so that every answer is read and rendered, as
after each change to the database: its p50 and server CPU are printed beside the floor's.

A second baseline is printed beside the floor: the irreducible work of the same answer, measured
in this process: the driver (sqlite3 or psycopg) fetching the answer's rows with hand-written
SQL (``raw_queries``; fetchall, nothing decoded), then orjson encoding the answer. Where its wall
time exceeds 2x the floor's p99 (noted "2x floor below it"), the latency goal is below what
fetching and encoding alone cost.

    python bench/reads.py [--backend sqlite|postgresql] [--reads prompts,versions,...]
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import _common as c

PROMPTS, VERSIONS, RUNS_PER_VERSION = 50, 10, 2
TASKS, PREDICTIONS_PER_TASK = 1_000, 20
CLIENTS = 16


def paths(task_id: int) -> dict[str, str]:
    """Each read's request path (with its query)."""
    return {
        "prompts": "/api/prompts/",
        "versions": "/api/prompts/1/versions",
        "tasks": "/api/tasks/?project=1&page_size=100",
        "tasks-all": "/api/tasks/?project=1&page_size=100&fields=all",
        "predictions": f"/api/predictions/?task={task_id}",
        "whoami": "/api/current-user/whoami",
    }


def bench_document(template: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The import document described above, and the id of a task with 20 predictions."""
    tables = template["tables"]
    prompt_row = next(p for p in tables["prompt"] if p["id"] == 1)
    version_row = next(v for v in tables["prompt_version"] if v["id"] == 1)
    (run_row,) = tables["model_run"]
    task_row = next(t for t in tables["task"] if t["project_id"] == 1)
    prediction_row = tables["prediction"][0]

    prompts = list(tables["prompt"])
    versions = [v for v in tables["prompt_version"] if v["prompt_id"] != 1]
    links = list(tables["prompt_project"])
    next_prompt = max(p["id"] for p in prompts) + 1
    org_prompts = [1]
    while len(org_prompts) < PROMPTS:
        prompts.append(prompt_row | {"id": next_prompt, "title": f"Prompt {next_prompt}",
                                     "description": f"Classifies tickets, variant {next_prompt}"})  # fmt: skip
        links.append({"prompt_id": next_prompt, "project_id": 1})
        org_prompts.append(next_prompt)
        next_prompt += 1
    next_version = max(v["id"] for v in tables["prompt_version"]) + 1
    org_versions: list[int] = []
    for prompt_id in org_prompts:
        ids = [1, 2] if prompt_id == 1 else []
        while len(ids) < VERSIONS:
            ids.append(next_version)
            next_version += 1
        for number, version_id in enumerate(ids):
            versions.append(version_row | {"id": version_id, "prompt_id": prompt_id,
                                           "title": f"v{number + 1}",
                                           "prompt": f"Classify the sentiment ({number}): {{text}}"})  # fmt: skip
        org_versions += [(prompt_id, v) for v in ids]

    tasks = list(tables["task"])
    project_tasks = [t["id"] for t in tasks if t["project_id"] == 1]
    next_task = max(t["id"] for t in tasks) + 1
    inner = max(t["inner_id"] for t in tasks if t["project_id"] == 1)
    while len(project_tasks) < TASKS:
        inner += 1
        tasks.append(task_row | {"id": next_task, "inner_id": inner,
                                 "data": {"text": f"Ticket {next_task}: the app crashes, é ✓",
                                          "ticket": next_task}})  # fmt: skip
        project_tasks.append(next_task)
        next_task += 1

    runs: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    for prompt_id, version_id in org_versions:
        for _ in range(RUNS_PER_VERSION):
            runs.append(run_row | {"id": len(runs) + 1, "prompt_id": prompt_id,
                                   "version_id": version_id})  # fmt: skip
    for _ in range(PREDICTIONS_PER_TASK):
        run_id = len(runs) + 1
        runs.append(run_row | {"id": run_id, "prompt_id": 1, "version_id": 1})
        for task_id in project_tasks:
            predictions.append(prediction_row | {"id": len(predictions) + 1, "run_id": run_id,
                                                 "task_id": task_id, "version_id": 1})  # fmt: skip
    document = template | {
        "tables": tables
        | {
            "prompt": prompts,
            "prompt_version": versions,
            "prompt_project": links,
            "task": tasks,
            "model_run": runs,
            "run_event": [],
            "prediction": predictions,
            "failed_prediction": [],
            "run_task": [],
        }
    }
    return document, project_tasks[len(project_tasks) // 2]


PREDICTION_COLUMNS = (
    "p.id, p.result, p.model_version, p.score, p.cluster, p.neighbors, "
    "p.mislabeling, p.created_at, p.updated_at, p.run_id, p.task_id, p.project_id"
)
PAGE_OF_TASKS = "SELECT id FROM task WHERE project_id = 1 ORDER BY id LIMIT 100"
TASK_COUNTS = (
    "SELECT (SELECT count(*) FROM task WHERE project_id = 1), "
    "(SELECT count(*) FROM annotation a JOIN task t ON t.id = a.task_id "
    " WHERE t.project_id = 1 AND NOT a.was_cancelled), "
    "(SELECT count(*) FROM prediction p JOIN task t ON t.id = p.task_id WHERE t.project_id = 1)"
)


def raw_queries(task_id: int) -> dict[str, list[tuple[str, tuple]]]:
    """Hand-written SQL fetching the rows of each answer (organization 1, project 1, prompt 1):
    what an application written for this one answer would ask the database."""
    org = (1,)
    return {
        "prompts": [
            ("SELECT count(*) FROM prompt WHERE organization_id = ?", org),
            ('SELECT p.*, u.first_name, u.last_name, u.email, u.username FROM prompt p '
             'LEFT JOIN "user" u ON u.id = p.created_by_id WHERE p.organization_id = ? '
             "ORDER BY p.id LIMIT 100", org),
            ("SELECT pp.prompt_id, pp.project_id, pr.title FROM prompt_project pp "
             "JOIN prompt p ON p.id = pp.prompt_id LEFT JOIN project pr ON pr.id = pp.project_id "
             "WHERE p.organization_id = ? ORDER BY pp.project_id", org),
            ("SELECT v.prompt_id, count(*) FROM prompt_version v JOIN prompt p ON p.id = v.prompt_id "
             "WHERE p.organization_id = ? GROUP BY v.prompt_id", org),
            ("SELECT v.prompt_id, r.version_id, r.total_predictions, r.total_correct_predictions "
             "FROM model_run r JOIN prompt_version v ON v.id = r.version_id "
             "JOIN prompt p ON p.id = v.prompt_id WHERE p.organization_id = ? "
             "AND r.status = 'Completed' AND r.project_subset = 'HasGT' "
             "ORDER BY r.completed_at, r.id", org),
            ("SELECT r.prompt_id, count(*) FROM model_run r JOIN prompt p ON p.id = r.prompt_id "
             "WHERE p.organization_id = ? GROUP BY r.prompt_id", org),
        ],
        "versions": [
            ('SELECT v.*, u.first_name, u.last_name, u.email, u.username FROM prompt_version v '
             'JOIN prompt p ON p.id = v.prompt_id LEFT JOIN "user" u ON u.id = v.created_by_id '
             "WHERE v.prompt_id = 1 AND p.organization_id = ? ORDER BY v.id", org),
            ("SELECT r.version_id, r.total_predictions, r.total_correct_predictions "
             "FROM model_run r JOIN prompt_version v ON v.id = r.version_id "
             "WHERE v.prompt_id = 1 AND r.status = 'Completed' AND r.project_subset = 'HasGT' "
             "ORDER BY r.completed_at, r.id", ()),
        ],
        "tasks": [
            ("SELECT organization_id FROM project WHERE id = 1", ()),
            (TASK_COUNTS, ()),
            (f"SELECT * FROM task WHERE id IN ({PAGE_OF_TASKS}) ORDER BY id", ()),
            ("SELECT id, task_id, was_cancelled, completed_by_id, lead_time, created_at "
             f"FROM annotation WHERE task_id IN ({PAGE_OF_TASKS}) ORDER BY task_id, id", ()),
            ("SELECT task_id, score, model_version FROM prediction "
             f"WHERE task_id IN ({PAGE_OF_TASKS}) ORDER BY task_id, id", ()),
        ],
        "tasks-all": [
            ("SELECT organization_id FROM project WHERE id = 1", ()),
            (TASK_COUNTS, ()),
            (f"SELECT * FROM task WHERE id IN ({PAGE_OF_TASKS}) ORDER BY id", ()),
            (f"SELECT * FROM annotation WHERE task_id IN ({PAGE_OF_TASKS}) ORDER BY task_id, id",
             ()),
            (f"SELECT {PREDICTION_COLUMNS} FROM prediction p "
             f"WHERE p.task_id IN ({PAGE_OF_TASKS}) ORDER BY p.task_id, p.id", ()),
        ],
        "predictions": [
            ("SELECT t.id FROM task t JOIN project pr ON pr.id = t.project_id "
             "WHERE t.id = ? AND pr.organization_id = ?", (task_id, 1)),
            (f"SELECT {PREDICTION_COLUMNS} FROM prediction p JOIN project pr ON pr.id = p.project_id "
             "WHERE p.task_id = ? AND pr.organization_id = ? ORDER BY p.id", (task_id, 1)),
        ],
        "whoami": [
            ('SELECT u.*, o.title FROM "user" u JOIN organization o ON o.id = u.organization_id '
             "WHERE u.token = ?", (c.DEMO_TOKEN,)),
        ],
    }  # fmt: skip


def measure(server: c.Server, path: str, args) -> tuple[c.LoadResult, c.LoadResult]:
    request = c.raw_request(server.url, "GET", path)
    latency = c.load(server.url, request, clients=1, seconds=args.seconds, min_requests=20,
                     max_requests=2000, warmup=0.5, server=server)  # fmt: skip
    throughput = c.load(server.url, request, clients=CLIENTS, seconds=args.seconds,
                        min_requests=CLIENTS, warmup=1, server=server)  # fmt: skip
    return latency, throughput


def figures(
    backend: str, name: str, size: int, result, base, raw: c.RawCost, first: c.LoadResult
) -> list[c.Figure]:
    (latency, throughput), (base_latency, base_throughput) = result, base
    label = f"reads.{name} ({size / 1e3:,.1f} kB)"
    p99, base_p99 = latency.percentile(99) * 1e3, base_latency.percentile(99) * 1e3
    return [
        c.raw_figure("reads", backend, label, raw, base_p99),
        c.Figure("reads", backend, f"{label} p50", latency.percentile(50) * 1e3, "ms",
                 base_latency.percentile(50) * 1e3, "floor p50 ms"),
        c.Figure("reads", backend, f"{label} p99", p99, "ms", base_p99, "floor p99 ms",
                 "<= 2x floor", p99 <= 2 * base_p99),
        c.Figure("reads", backend, f"{label} throughput, {CLIENTS} clients",
                 throughput.per_second, "requests/s", base_throughput.per_second,
                 "floor requests/s", ">= 0.5 of floor",
                 throughput.per_second >= 0.5 * base_throughput.per_second),
        c.Figure("reads", backend, f"{label} server CPU per request",
                 latency.cpu_per_request * 1e3, "ms", base_latency.cpu_per_request * 1e3,
                 "floor CPU ms a request"),
        c.Figure("reads", backend, f"{label} first answer (none kept) p50",
                 first.percentile(50) * 1e3, "ms", base_latency.percentile(50) * 1e3,
                 "floor p50 ms"),
        c.Figure("reads", backend, f"{label} first answer (none kept) server CPU per request",
                 first.cpu_per_request * 1e3, "ms", base_latency.cpu_per_request * 1e3,
                 "floor CPU ms a request"),
    ]  # fmt: skip


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        reads={"default": "prompts,versions,tasks,tasks-all,predictions,whoami"},
        seconds={"type": float, "default": 5.0, "help": "measured seconds per phase"},
        save_bodies={"metavar": "DIR", "help": "write each answer's body to DIR (to compare)"},
    )
    c.header("reads", args)
    chosen = args.reads.split(",")
    results: list[c.Figure] = []
    with c.workdir(args, "reads") as where, c.database(args.backend, where) as url:
        big = {"max_body_bytes": 512 * 1024 * 1024}
        with c.emulator(where, url, **big) as server, c.client(server.url) as http:
            document, task_id = bench_document(c.run_template(http))
            c.checked(http.post("/_emulator/import", json=document))
            tables = document["tables"]
            print(f"  state: {len(tables['prompt']):,} prompts, {len(tables['prompt_version']):,} "
                  f"versions, {len(tables['task']):,} tasks, {len(tables['model_run']):,} runs, "
                  f"{len(tables['prediction']):,} predictions (through /_emulator/import)")  # fmt: skip
            requested = {name: path for name, path in paths(task_id).items() if name in chosen}
            unknown = set(chosen) - set(requested)
            if unknown:
                sys.exit(f"unknown reads: {', '.join(sorted(unknown))}")
            bodies: dict[str, bytes] = {}
            for name, path in requested.items():
                response = http.get(path)
                c.checked(response)
                bodies[name] = response.content
                print(f"  {name}: GET {path} answers {len(response.content):,} bytes")
            if args.save_bodies:
                out = Path(args.save_bodies)
                out.mkdir(parents=True, exist_ok=True)
                for name, body in bodies.items():
                    (out / f"{name}.json").write_bytes(body)
            files = {}
            for name, path in requested.items():
                file = where / f"body-{name}.json"
                file.write_bytes(bodies[name])
                files[path.split("?")[0]] = str(file)
            bodies_file = where / "bodies.json"
            bodies_file.write_text(json.dumps(files))
            floor = c.Server(
                "floor",
                [sys.executable, str(c.BENCH / "floor_app.py"), "--port", "0",
                 "--bodies-file", str(bodies_file)],
                dict(os.environ),
                where,
            )  # fmt: skip
            base: dict[str, tuple[c.LoadResult, c.LoadResult]] = {}
            with floor:
                for name, path in requested.items():
                    base[name] = measure(floor, path, args)
            queries = raw_queries(task_id)
            for name, path in requested.items():
                raw = c.raw_cost(url, queries[name], bodies[name])
                print(f"  [{name}] floor:    {base[name][0].summary()}")
                print(f"  [{name}] floor:    {base[name][1].summary()}")
                print(f"  [{name}] baseline: {raw.summary()}")
                with c.Profile(args, server, f"reads-{name}"):
                    result = measure(server, path, args)
                    first = c.first_answers(server, path, args.seconds, min_requests=20,
                                            max_requests=2000)  # fmt: skip
                print(f"  [{name}] emulator: {result[0].summary()}")
                print(f"  [{name}] emulator: {result[1].summary()}")
                print(f"  [{name}] emulator, first answers: {first.summary()}")
                results += figures(args.backend, name, len(bodies[name]), result, base[name], raw,
                                   first)  # fmt: skip
    c.report(results)


if __name__ == "__main__":
    main()
