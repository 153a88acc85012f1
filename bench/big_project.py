"""A 100,000-task project: GET /subsets latency, and a full All run through the virtual clock.

The seed has the demo-sized project 1 (300 tasks, 90 with ground truth) and project 2 with
100,000 tasks (30,000 with ground truth). /subsets latency is one client polling back to back;
its baseline is the same request on the 300-task project, so the ratio is what the 100,000
tasks cost. The All run is created on a frozen clock and settled by one
POST /_emulator/clock {"advance_seconds": ...}; predictions per second are over a raw sqlite3
executemany of the same 100,000 rows (see lifecycle.py). Goal: /subsets < 50 ms (p99).

``--batch-size`` defaults to 100 here (the product default of 10 means 10,000 steps, several
minutes on two cores); lifecycle.py measures the default.

    python bench/big_project.py [--backend sqlite|postgresql] [--tasks 100000] [--batch-size 100]
"""

import time

import _common as c
from lifecycle import raw_insert, raw_rows


def subsets_latency(server: c.Server, project: int, seconds: float) -> c.LoadResult:
    request = c.raw_request(server.url, "GET", f"/api/projects/{project}/subsets")
    return c.load(server.url, request, clients=1, seconds=seconds, min_requests=20,
                  max_requests=500, warmup=0.5, server=server)  # fmt: skip


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        tasks={"type": int, "default": 100_000},
        ground_truth={"type": int, "default": 30_000},
        batch_size={"type": int, "default": 100},
        seconds={"type": float, "default": 5.0, "help": "measured seconds of /subsets"},
    )
    c.header("big_project", args)
    projects = [
        {"id": 1, "tasks": 300, "ground_truth": 90},
        {"id": 2, "tasks": args.tasks, "ground_truth": args.ground_truth},
    ]
    with c.workdir(args, "big") as where, c.database(args.backend, where) as url:
        seed = c.write_seed(where, projects)
        server = c.emulator(where, url, seed_file=seed, batch_size=args.batch_size)
        began = time.perf_counter()
        with server, c.client(server.url) as http:
            print(f"  server ready in {time.perf_counter() - began:.1f} s "
                  f"(migrations and seeding {args.tasks:,} tasks)")  # fmt: skip
            counts = c.checked(http.get("/api/projects/2/subsets"))
            assert counts[0] == {"subset": "All", "count": args.tasks}, counts
            small = subsets_latency(server, 1, args.seconds)
            with c.Profile(args, server, "big-subsets"):
                large = subsets_latency(server, 2, args.seconds)
            for name, result in (("300 tasks", small), (f"{args.tasks:,} tasks", large)):
                print(f"  /subsets of {name}: {result.summary()}")

            c.checked(http.post("/_emulator/clock", json={"freeze": True}))
            c.checked(http.post(c.RUNS_PATH, json={"project": 2, "project_subset": "All"}), 201)
            with c.Profile(args, server, "big-run"):
                began = time.perf_counter()
                c.checked(http.post("/_emulator/clock", json={"advance_seconds": 10**7}))
                seconds = time.perf_counter() - began
            (run,) = c.checked(http.get(c.RUNS_PATH, params={"project": 2}))
        assert run["status"] == "Completed" and run["total_predictions"] == args.tasks, run
        rate = args.tasks / seconds
        print(
            f"  All run: {args.tasks:,} predictions in {seconds:.1f} s, {rate:,.0f} predictions/s"
        )
        raw = raw_insert(where / "raw.sqlite3", raw_rows(1, args.tasks))
        print(f"  raw sqlite3 executemany: {raw:,.0f} rows/s in one transaction")

    p99 = large.percentile(99) * 1e3
    c.report(
        [
            c.Figure("big_project", args.backend, f"/subsets of {args.tasks:,} tasks p50",
                     large.percentile(50) * 1e3, "ms", small.percentile(50) * 1e3,
                     "/subsets of 300 tasks p50 ms"),
            c.Figure("big_project", args.backend, f"/subsets of {args.tasks:,} tasks p99", p99,
                     "ms", small.percentile(99) * 1e3, "/subsets of 300 tasks p99 ms",
                     "< 50 ms", p99 < 50),
            c.Figure("big_project", args.backend, f"/subsets of {args.tasks:,} tasks server CPU",
                     large.cpu_per_request * 1e3, "ms", small.cpu_per_request * 1e3,
                     "/subsets of 300 tasks CPU ms"),
            c.Figure("big_project", args.backend,
                     f"All run of {args.tasks:,} tasks (batch_size {args.batch_size})", rate,
                     "predictions/s", raw, "raw sqlite3 executemany rows/s"),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
