"""Polling runs.list with 10,000 runs stored: latency and throughput against the floor.

The 10,000 completed runs are loaded through POST /_emulator/import of a generated export
document (cloned from one real run; not through the API). Two scenarios:

- all: every stored run is of prompt 1 version 1 on project 1, so
  GET /api/prompts/1/versions/1/inference-runs?project=1 answers all 10,000 (the endpoint has
  no pagination, as in Label Studio): the cost of answering a big list;
- few: 100 of them are (the rest are of version 2), so the answer is 100 runs out of 10,000
  stored: the cost of finding them.

Latency (p50, p99) is one client polling back to back, as a test suite does; throughput is
16 clients (4 for "all", whose answers take long). The floor app answers the same list (the
emulator's own answer, serialised on every request). Goals, against the floor answering the
same list: "few" p99 <= 2x the floor's and throughput >= 0.5 of the floor's; "all" within 1.5x
of the floor, p99 <= 1.5x the floor's and throughput >= 1/1.5 of the floor's.
Beside the floor, the raw baseline (as in reads.py): the driver fetching the same rows with
hand-written SQL, plus orjson encoding the answer, in this process. The polls repeat one URL
on an unchanged database, which the emulator answers from what it kept (app/kept.py); a last
phase, one client, gives each request a URL not answered before, so that every answer is read
and rendered as after a change: its p99 and server CPU are printed too.

    python bench/poll.py [--backend sqlite|postgresql] [--runs 10000] [--scenarios all,few]
"""

import json

import _common as c

# How many of the stored runs the poll answers (None: all), and how many clients measure the
# throughput: answers of several MB take seconds each, and every request sent is waited for.
SCENARIOS = {"all": (None, 4), "few": (100, 16)}
# How many times the floor's time each scenario may take: its p99 at most this many times the
# floor's, its throughput at least the floor's divided by it.
SLOWER = {"all": 1.5, "few": 2.0}


RUN_COLUMNS = (
    "r.id, r.created_by_id, r.project_id, r.version_id, r.prompt_id, r.organization_id, "
    "r.project_subset, r.sample_subset_size, r.filters_json, r.task_ids, r.source_model_run_id, "
    "r.job_id, r.status, r.total_tasks, r.total_predictions, r.total_correct_predictions, "
    "r.created_at, r.triggered_at, r.predictions_updated_at, r.completed_at"
)
# Hand-written SQL fetching the poll's rows: the prompt and version checked, the runs with
# their creators.
RAW_QUERIES = [
    ("SELECT p.organization_id, v.id FROM prompt p LEFT JOIN prompt_version v "
     "ON v.prompt_id = p.id AND v.id = 1 WHERE p.id = 1", ()),
    (f'SELECT {RUN_COLUMNS}, u.first_name, u.last_name, u.email, u.username FROM model_run r '
     'JOIN "user" u ON u.id = r.created_by_id WHERE r.prompt_id = 1 AND r.version_id = 1 '
     "AND r.organization_id = 1 AND r.project_id = 1 ORDER BY r.id", ()),
]  # fmt: skip


def measure(server: c.Server, path: str, args, clients: int) -> tuple[c.LoadResult, c.LoadResult]:
    request = c.raw_request(server.url, "GET", path)
    latency = c.load(server.url, request, clients=1, seconds=args.seconds, min_requests=10,
                     max_requests=300, warmup=1, server=server)  # fmt: skip
    throughput = c.load(server.url, request, clients=clients, seconds=args.seconds,
                        min_requests=clients, warmup=2, server=server)  # fmt: skip
    return latency, throughput


def describe(name: str, latency: c.LoadResult, throughput: c.LoadResult) -> None:
    print(f"  {name}: {latency.summary()}\n  {name}: {throughput.summary()}")


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        runs={"type": int, "default": 10_000},
        scenarios={"default": "all,few"},
        seconds={"type": float, "default": 8.0, "help": "measured seconds per phase"},
    )
    c.header("poll", args)
    path = f"{c.RUNS_PATH}?project=1"
    figures: list[c.Figure] = []
    with c.workdir(args, "poll") as where, c.database(args.backend, where) as url:
        big = {"max_body_bytes": 512 * 1024 * 1024}
        with c.emulator(where, url, **big) as server, c.client(server.url) as http:
            template = c.run_template(http)
            for scenario in args.scenarios.split(","):
                matching, clients = SCENARIOS[scenario]
                document = c.bulk_document(template, args.runs, matching=matching)
                c.checked(http.post("/_emulator/import", json=document))
                response = http.get(path)
                answer = c.checked(response)
                expected = args.runs if matching is None else matching
                assert len(answer) == expected, (len(answer), expected)
                print(f"  [{scenario}] {args.runs:,} runs imported; the poll answers "
                      f"{len(answer):,} ({len(json.dumps(answer)) / 1e6:.2f} MB)")  # fmt: skip
                list_file = where / f"list-{scenario}.json"
                list_file.write_text(json.dumps(answer))
                with c.floor(where, list_file) as floor:
                    base = measure(floor, path, args, clients)
                describe("floor", *base)
                raw = c.raw_cost(url, RAW_QUERIES, response.content,
                                 iterations=50 if matching else 10)  # fmt: skip
                print(f"  baseline: {raw.summary()}")
                with c.Profile(args, server, f"poll-{scenario}"):
                    result = measure(server, path, args, clients)
                    first = c.first_answers(server, path, args.seconds, min_requests=10,
                                            max_requests=300)  # fmt: skip
                describe("emulator", *result)
                print(f"  emulator, first answers: {first.summary()}")
                (latency, throughput), (base_latency, base_throughput) = result, base
                label = f"runs.list [{scenario}: {len(answer):,} of {args.runs:,} runs]"
                p99, base_p99 = latency.percentile(99) * 1e3, base_latency.percentile(99) * 1e3
                slower = SLOWER[scenario]
                share = f"{1 / slower:.2g}"
                figures += [
                    c.raw_figure("poll", args.backend, label, raw,
                                 base_latency.percentile(99) * 1e3),  # fmt: skip
                    c.Figure("poll", args.backend, f"{label} p50", latency.percentile(50) * 1e3,
                             "ms", base_latency.percentile(50) * 1e3, "floor p50 ms"),
                    c.Figure("poll", args.backend, f"{label} p99", p99, "ms", base_p99,
                             "floor p99 ms", f"<= {slower:g}x floor", p99 <= slower * base_p99),
                    c.Figure("poll", args.backend, f"{label} throughput, {clients} clients",
                             throughput.per_second, "requests/s", base_throughput.per_second,
                             "floor requests/s", f">= {share} of floor",
                             throughput.per_second * slower >= base_throughput.per_second),
                    c.Figure("poll", args.backend, f"{label} server CPU per request",
                             latency.cpu_per_request * 1e3, "ms",
                             base_latency.cpu_per_request * 1e3, "floor CPU ms a request"),
                    c.Figure("poll", args.backend, f"{label} first answer (none kept) p99",
                             first.percentile(99) * 1e3, "ms", base_p99, "floor p99 ms"),
                    c.Figure("poll", args.backend,
                             f"{label} first answer (none kept) server CPU per request",
                             first.cpu_per_request * 1e3, "ms",
                             base_latency.cpu_per_request * 1e3, "floor CPU ms a request"),
                ]  # fmt: skip
    c.report(figures)


if __name__ == "__main__":
    main()
