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
which is how the engine commits (one transaction per step); and on SQLite the least work a
settle of the same runs can do with the emulator's model (``least_work``), over the raw rate
too: the line the emulator could reach with no cost of its own.

    python bench/lifecycle.py [--backend sqlite|postgresql] [--runs 200] [--tasks 5000]
        [--ground-truth 250] [--subset HasGT] [--batch-size 10]
"""

import functools
import json
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


def insert_sql(mark: str) -> str:
    """The INSERT of one ``raw_rows`` row, with the driver's placeholder ``mark``."""
    return f"INSERT INTO prediction ({COLUMNS}) VALUES ({', '.join([mark] * 16)}, 0.0)"


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
    insert = insert_sql("?")
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


def least_work(database: Path, where: Path) -> float:
    """Predictions a second of the least work that settling the emulator's runs again can do,
    on a copy of the database it left (its predictions and events deleted): for each run, one
    read of the tasks the emulator predicted for it, with their data and first ground truth;
    the emulator's model on each (``predict_on``, JSON decoded once per text as the engine
    does); one executemany of the rows; the run's UPDATE and its two events; a commit every
    ``STEPS_BUDGET_SECONDS`` as the engine's. sqlite3 with the emulator's pragmas (foreign keys
    checked), no checkpoint on the way, no SQLAlchemy, no frozen subset, no claims, no clock:
    the rest of what the emulator does per run costs nothing here."""
    from app.lifecycle.inference import Version, predict_on
    from app.lifecycle.machine import STEPS_BUDGET_SECONDS
    from app.lifecycle.outputs import shared_shape
    from app.render import loads_stored

    path = where / "least.sqlite3"
    path.unlink(missing_ok=True)
    with sqlite3.connect(database) as source, sqlite3.connect(path) as target:
        source.backup(target)
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "cache_size=-8192", "wal_autocheckpoint=0"):  # fmt: skip
        connection.execute(f"PRAGMA {pragma}")
    predicted: dict[int, list[int]] = {}
    for run, task_id in connection.execute("SELECT run_id, task_id FROM prediction"):
        predicted.setdefault(run, []).append(task_id)
    connection.execute("DELETE FROM prediction")
    connection.execute("DELETE FROM run_event")
    connection.execute("VACUUM")
    runs = connection.execute("SELECT id, version_id, project_id FROM model_run").fetchall()
    _, version_id, project_id = runs[0]
    version = connection.execute(
        "SELECT v.title, v.accuracy, v.failure_rate, v.provider, v.provider_model_id, v.prompt,"
        " p.input_fields, p.output_classes, j.label_config FROM prompt_version v"
        " JOIN prompt p ON p.id = v.prompt_id JOIN project j ON j.id = ? WHERE v.id = ?",
        (project_id, version_id),
    ).fetchone()
    title, accuracy, failure_rate, provider, model_id, prompt, fields, classes, config = version
    shape = shared_shape(config, json.loads(classes))
    model = Version(version_id, accuracy, failure_rate, provider, model_id, prompt,
                    json.loads(fields), shape)  # fmt: skip
    tasks = (
        "SELECT t.id, t.data, (SELECT a.result FROM annotation a WHERE a.task_id = t.id"
        " AND a.ground_truth AND NOT a.was_cancelled ORDER BY a.id LIMIT 1) FROM task t"
        " WHERE t.id IN (SELECT value FROM json_each(?)) ORDER BY t.id"
    )
    insert = insert_sql("?")
    event = "INSERT INTO run_event (run_id, from_status, to_status, at, cause, reason)"
    event += " VALUES (?, ?, ?, ?, 'schedule', '')"
    done = (
        "UPDATE model_run SET status = 'Completed', triggered_at = ?, completed_at = ?,"
        " next_due_at = NULL, total_tasks = ?, total_predictions = ?,"
        " total_correct_predictions = ?, total_failed = 0, predictions_updated_at = ?"
        " WHERE id = ?"
    )
    decode = functools.cache(lambda text: None if text is None else loads_stored(text))
    stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    stored = 0
    began = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    deadline = time.monotonic() + STEPS_BUDGET_SECONDS
    for run, _, _ in runs:
        rows = []
        ids = json.dumps(predicted.get(run, []))
        for task_id, data, truth in connection.execute(tasks, (ids,)).fetchall():
            made = predict_on(model, 0, task_id, decode(data), decode(truth), False)
            rows.append((run, task_id, version_id, made.correct, stamp, project_id, title, stamp,
                         made.encoded, made.score, made.prompt_tokens, made.completion_tokens,
                         made.prompt_cost_usd, made.completion_cost_usd, made.total_cost_usd,
                         made.inference_time))  # fmt: skip
        connection.executemany(insert, rows)
        connection.execute(event, (run, "Pending", "InProgress", stamp))
        connection.execute(event, (run, "InProgress", "Completed", stamp))
        correct = sum(bool(row[3]) for row in rows)
        connection.execute(done, (stamp, stamp, len(rows), len(rows), correct, stamp, run))
        stored += len(rows)
        if time.monotonic() >= deadline:
            connection.execute("COMMIT")
            connection.execute("BEGIN IMMEDIATE")
            deadline = time.monotonic() + STEPS_BUDGET_SECONDS
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - began
    connection.close()
    return stored / elapsed


def _raw_insert_postgresql(where: Path, rows: list[tuple], per_transaction: int | None) -> float:
    import psycopg
    from sqlalchemy.dialects import postgresql

    with c.database("postgresql", where, "raw") as url:
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for statement in _ddl(postgresql.dialect()):
                connection.execute(statement)
            insert = insert_sql("%s")
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
        note = f"raw in transactions of {args.batch_size}: {raw_batched:,.0f} rows/s"
        if args.backend == "sqlite":
            least = least_work(where / "emulator.sqlite3", where)
            print(
                f"  least work (see least_work): {least:,.0f} predictions/s, "
                f"{least / raw:.2f} of the raw insert; the emulator at {rate / least:.2f} of it"
            )
            note += f"; least work {least:,.0f} predictions/s, {least / raw:.2f} of raw"
    c.report(
        [
            c.Figure("lifecycle", args.backend,
                     f"settle {args.runs} runs x {per_run} tasks ({args.subset} of {args.tasks:,})",
                     rate, "predictions/s", raw, f"raw {DRIVER[args.backend]} executemany rows/s",
                     ">= 0.3",
                     rate >= 0.3 * raw,
                     note=note),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
