"""The lifecycle engine: settle 200 runs on a 5,000-task project through the virtual clock.

A seed with one project of 5,000 tasks (250 with ground truth) whose label config has a
sentiment Choices (so every prediction carries its result); the clock is frozen, 200 runs
of its HasGT subset are created through the API, then one POST /_emulator/clock
{"advance_seconds": 86400} applies every step (start, one batch of ``batch_size`` tasks per step,
finish) and answers once all is stored. Figure: predictions stored per second of that request,
over the rate of the driver's raw executemany of the same rows into a table of the same shape
(app.models.Prediction with its indexes, without its foreign keys) in one transaction, on the
same backend: sqlite3 into an SQLite file with the emulator's pragmas, psycopg into a fresh
PostgreSQL database. Goal: >= 0.3. The server's CPU per prediction is printed too.

Also printed, for reading the gap: the raw rate with one transaction per ``batch_size`` rows,
which is how the engine commits (one transaction per step).

    python bench/lifecycle.py [--backend sqlite|postgresql] [--runs 200] [--tasks 5000]
        [--ground-truth 250] [--subset HasGT] [--batch-size 10]
"""

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import _common as c

DRIVER = {"sqlite": "sqlite3", "postgresql": "psycopg"}
# The demo's sentiment config, so that every prediction carries a Choices result.
SENTIMENT_CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/></Choices></View>'
)
# A run's prediction as the engine stores it: a Label Studio choices result and its costs.
RESULT = (
    '[{"id": "a1b2c3d4e5", "from_name": "sentiment", "to_name": "text", "type": "choices",'
    ' "origin": "prediction", "value": {"choices": ["Positive"]}}]'
)


def raw_rows(backend: str, runs: int, tasks: int, version: int = 1) -> list[tuple]:
    """The rows the engine stores for ``runs`` runs of ``tasks`` tasks, as the raw driver takes
    them (an ISO text timestamp for SQLite, an aware datetime for PostgreSQL)."""
    now = datetime.now(UTC)
    stamp = now if backend == "postgresql" else now.replace(tzinfo=None).isoformat(sep=" ")
    return [
        (
            run,
            task,
            version,
            task % 3 == 0,
            stamp,
            1,
            "v1",
            stamp,
            RESULT,
            0.9,
            120,
            5,
            0.000018,
            0.000003,
            0.000021,
            0.42,
        )  # fmt: skip
        for run in range(1, runs + 1)
        for task in range(1, tasks + 1)
    ]


COLUMNS = (
    "run_id, task_id, version_id, correct, created_at, project_id, model_version, updated_at,"
    " result, score, prompt_tokens, completion_tokens, prompt_cost_usd, completion_cost_usd,"
    " total_cost_usd, inference_time, mislabeling"
)


def _ddl(dialect) -> list[str]:
    """The prediction table of the emulator (its columns, key and indexes) for a dialect; without
    its foreign keys, which would need the tables they name."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    from app.models import Prediction, table_of

    table = table_of(Prediction)
    create = CreateTable(table, include_foreign_key_constraints=[])
    return [str(create.compile(dialect=dialect))] + [
        str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes
    ]


def raw_insert(
    backend: str, where: Path, rows: list[tuple], per_transaction: int | None = None
) -> float:
    """Rows per second of the driver's own executemany (sqlite3, or psycopg into PostgreSQL)
    into a fresh prediction table of the emulator's shape; in one transaction, or one per
    ``per_transaction`` rows."""
    if backend == "postgresql":
        return _raw_insert_postgresql(where, rows, per_transaction)
    from sqlalchemy.dialects import sqlite

    path = where / "raw.sqlite3"
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in _ddl(sqlite.dialect()):
        connection.execute(statement)
    insert = f"INSERT INTO prediction ({COLUMNS}) VALUES ({', '.join(['?'] * 16)}, 0.0)"
    size = per_transaction or len(rows)
    began = time.perf_counter()
    for start in range(0, len(rows), size):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, rows[start : start + size])
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - began
    count = connection.execute("SELECT count(*) FROM prediction").fetchone()[0]
    assert count == len(rows), count
    connection.close()
    return len(rows) / elapsed


def _raw_insert_postgresql(where: Path, rows: list[tuple], per_transaction: int | None) -> float:
    import psycopg
    from sqlalchemy.dialects import postgresql

    with c.database("postgresql", where, "raw") as url:
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for statement in _ddl(postgresql.dialect()):
                connection.execute(statement)
            insert = f"INSERT INTO prediction ({COLUMNS}) VALUES ({', '.join(['%s'] * 16)}, 0.0)"
            size = per_transaction or len(rows)
            began = time.perf_counter()
            for start in range(0, len(rows), size):
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany(insert, rows[start : start + size])
            elapsed = time.perf_counter() - began
            count = connection.execute("SELECT count(*) FROM prediction").fetchone()[0]
    assert count == len(rows), count
    return len(rows) / elapsed


def settle_all(args, where: Path, seed: Path, project: int, subset: str, runs: int) -> dict:
    """Create ``runs`` runs on a frozen clock, then advance it until all are settled. Answers
    the seconds the advance took, the predictions stored and the server's startup seconds."""
    with c.database(args.backend, where) as url:
        server = c.emulator(where, url, seed_file=seed, batch_size=args.batch_size)
        began = time.perf_counter()
        with server, c.client(server.url) as http:
            startup = time.perf_counter() - began
            c.checked(http.post("/_emulator/clock", json={"freeze": True}))
            body = {"project": project, "project_subset": subset}
            for _ in range(runs):
                c.checked(http.post(c.RUNS_PATH, json=body), 201)
            with c.Profile(args, server, f"lifecycle-{project}"):
                began, cpu = time.perf_counter(), server.cpu_seconds()
                c.checked(http.post("/_emulator/clock", json={"advance_seconds": 10**6}))
                seconds = time.perf_counter() - began
                cpu = server.cpu_seconds() - cpu
            listed = c.checked(http.get(c.RUNS_PATH, params={"project": project}))
    statuses = {r["status"] for r in listed}
    assert len(listed) == runs and statuses == {"Completed"}, statuses
    predictions = sum(r["total_predictions"] for r in listed)
    assert predictions == sum(r["total_tasks"] for r in listed)
    return {"seconds": seconds, "predictions": predictions, "startup": startup, "cpu": cpu}


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        runs={"type": int, "default": 200},
        tasks={"type": int, "default": 5000},
        ground_truth={"type": int, "default": 250},
        subset={"default": "HasGT", "choices": ["All", "HasGT", "Sample"]},
        batch_size={"type": int, "default": 10},
    )
    c.header("lifecycle", args)
    with c.workdir(args, "lifecycle") as where:
        seed = c.write_seed(
            where,
            [
                {
                    "id": 1,
                    "tasks": args.tasks,
                    "ground_truth": args.ground_truth,
                    "label_config": SENTIMENT_CONFIG,
                }
            ],  # fmt: skip
        )
        result = settle_all(args, where, seed, 1, args.subset, args.runs)
        rate = result["predictions"] / result["seconds"]
        steps = args.runs + result["predictions"] / args.batch_size
        print(
            f"  emulator: {result['predictions']:,} predictions of {args.runs} runs in "
            f"{result['seconds']:.1f} s (~{steps:,.0f} steps of batch_size {args.batch_size}): "
            f"{rate:,.0f} predictions/s, {1e3 * result['seconds'] / steps:.2f} ms a step; server CPU "
            f"{1e6 * result['cpu'] / result['predictions']:.1f} us a prediction"
        )
        per_run = result["predictions"] // args.runs
        rows = raw_rows(args.backend, args.runs, per_run)
        raw = raw_insert(args.backend, where, rows)
        raw_batched = raw_insert(args.backend, where, rows, args.batch_size)
        print(f"  raw {DRIVER[args.backend]} executemany: {raw:,.0f} rows/s in one transaction, "
              f"{raw_batched:,.0f} rows/s in transactions of {args.batch_size}")  # fmt: skip
    c.report(
        [
            c.Figure("lifecycle", args.backend,
                     f"settle {args.runs} runs x {per_run} tasks ({args.subset} of {args.tasks:,})",
                     rate, "predictions/s", raw, f"raw {DRIVER[args.backend]} executemany rows/s",
                     ">= 0.3",
                     rate >= 0.3 * raw,
                     note=f"raw in transactions of {args.batch_size}: {raw_batched:,.0f} rows/s"),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
