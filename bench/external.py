"""External inference: batches of 1,000 predictions posted by a worker for one run.

A seed with one project of 20,000 tasks (6,000 with ground truth) whose label config has a
sentiment Choices; the clock is frozen, one run of the All subset is created with
``X-Emulator-Inference: external`` and started by advancing the clock past its queue delay. Then
its tasks are posted back, 1,000 a request, to POST /api/model-run/batch-predictions (each item
an output, its tokens and costs, as Adala's LSEBatchItem), one request after the other. Figure:
predictions stored per second of those requests (the client's time, from sending each batch to
its answer), over the driver's raw executemany of the same rows on the same backend in one
transaction per 1,000 rows (see lifecycle.py). Goal: >= 0.3. The server's CPU per batch is
printed too.

    python bench/external.py [--backend sqlite|postgresql] [--tasks 20000] [--batch 1000]
"""

import json
import time

import _common as c
from lifecycle import DRIVER, SENTIMENT_CONFIG, raw_insert, raw_rows

EXTERNAL = {"X-Emulator-Inference": "external"}


def item(task_id: int) -> dict:
    """One task's result as an inference service posts it."""
    return {
        "task_id": task_id,
        "output": {"sentiment": "Positive"},
        "prompt_tokens": 120,
        "completion_tokens": 5,
        "prompt_cost_usd": 0.000018,
        "completion_cost_usd": 0.000003,
        "total_cost_usd": 0.000021,
        "inference_time": 0.42,
    }


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        tasks={"type": int, "default": 20_000},
        ground_truth={"type": int, "default": 6_000},
        batch={"type": int, "default": 1000, "help": "predictions a request"},
    )
    c.header("external", args)
    project = {"id": 1, "tasks": args.tasks, "ground_truth": args.ground_truth,
               "label_config": SENTIMENT_CONFIG}  # fmt: skip
    with c.workdir(args, "external") as where, c.database(args.backend, where) as url:
        seed = c.write_seed(where, [project])
        server = c.emulator(where, url, seed_file=seed, max_body_bytes=64 * 1024 * 1024)
        with server, c.client(server.url) as http:
            c.checked(http.post("/_emulator/clock", json={"freeze": True}))
            body = {"project": 1, "project_subset": "All"}
            run = c.checked(http.post(c.RUNS_PATH, json=body, headers=EXTERNAL), 201)
            c.checked(http.post("/_emulator/clock", json={"advance_seconds": 3600}))
            pending = c.checked(http.get(f"/_emulator/runs/{run['id']}/pending-tasks"))
            tasks = pending["tasks"]
            assert pending["status"] == "InProgress" and len(tasks) == args.tasks, pending
            batches = [
                json.dumps(
                    {
                        "modelrun_id": run["id"],
                        "results": [item(t) for t in tasks[i : i + args.batch]],
                    }
                ).encode()
                for i in range(0, len(tasks), args.batch)
            ]
            headers = {"Content-Type": "application/json"}
            seconds: list[float] = []
            cpu = server.cpu_seconds()
            with c.Profile(args, server, "external"):
                for payload in batches:
                    began = time.perf_counter()
                    answer = http.post("/api/model-run/batch-predictions", content=payload,
                                       headers=headers)  # fmt: skip
                    seconds.append(time.perf_counter() - began)
                    c.checked(answer, 201)
            cpu = server.cpu_seconds() - cpu
            (settled,) = c.checked(http.get(c.RUNS_PATH, params={"project": 1}))
        assert settled["status"] == "Completed", settled
        assert settled["total_predictions"] == args.tasks, settled
        rate = args.tasks / sum(seconds)
        ordered = sorted(seconds)
        print(
            f"  emulator: {len(batches)} batches of {args.batch:,}: {rate:,.0f} predictions/s, "
            f"median {1e3 * ordered[len(ordered) // 2]:.0f} ms a batch, server CPU "
            f"{1e3 * cpu / len(batches):.0f} ms a batch ({1e6 * cpu / args.tasks:.1f} us a "
            "prediction)"
        )
        rows = raw_rows(args.backend, 1, args.tasks)
        raw = raw_insert(args.backend, where, rows, args.batch)
        raw_whole = raw_insert(args.backend, where, rows)
        print(f"  raw {DRIVER[args.backend]} executemany: {raw:,.0f} rows/s in transactions of "
              f"{args.batch:,}, {raw_whole:,.0f} rows/s in one")  # fmt: skip
    c.report(
        [
            c.Figure("external", args.backend,
                     f"batch predictions, {args.batch:,} a request ({args.tasks:,} tasks)", rate,
                     "predictions/s", raw,
                     f"raw {DRIVER[args.backend]} executemany rows/s, {args.batch:,} a transaction",
                     ">= 0.3", rate >= 0.3 * raw,
                     note=f"server CPU {1e3 * cpu / len(batches):.0f} ms a batch"),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
