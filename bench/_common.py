"""What every benchmark shares: databases, server processes, a light load generator, a profiler
hook and the result lines that run_all.py reads.

Not a benchmark itself (run_all.py runs the other scripts of this folder).
"""

import argparse
import asyncio
import contextlib
import datetime
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DEMO_TOKEN = "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # demo seed: organization 1
AUTH = {"Authorization": f"Token {DEMO_TOKEN}"}
RUNS_PATH = "/api/prompts/1/versions/1/inference-runs"
POSTGRES = os.environ.get("LSE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
RESULT_PREFIX = "BENCH_RESULT "
BACKENDS = ("sqlite", "postgresql")


# --- the command line and the machine -------------------------------------------------------


def arguments(description: str, **extra: dict[str, Any]) -> argparse.Namespace:
    """The flags every benchmark takes, plus its own (name -> add_argument keywords)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record the emulator with py-spy during the measured phase; raw stacks go to DIR",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: only the samples of the thread holding the interpreter (py-spy's "
        "--gil), where waits on the database that release it would otherwise count as work",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (databases, server logs)"
    )
    for name, options in extra.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, **options)
    return parser.parse_args()


def machine() -> dict[str, Any]:
    """What the figures were taken on, and how busy the machine was."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def header(name: str, args: argparse.Namespace) -> None:
    info = machine()
    print(f"# {name} ({args.backend})")
    print(
        f"  machine: {info['cpus']} cpus ({info['cpu_model']}), python {info['python']}, "
        f"{info['date']}, load average {info['load_average']}"
    )


@contextlib.contextmanager
def workdir(args: argparse.Namespace, name: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"lse-bench-{name}-"))
    try:
        yield path
    finally:
        if args.keep:
            print(f"  work directory kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, where: Path, name: str = "emulator") -> Iterator[str]:
    """A fresh, empty database: an SQLite file in ``where`` or a new PostgreSQL database
    (dropped afterwards). Yields its SQLAlchemy URL."""
    if backend == "sqlite":
        yield f"sqlite:///{where / (name + '.sqlite3')}"
        return
    db = f"lse_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}/{db}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


# --- server processes -----------------------------------------------------------------------


def emulator_command() -> list[str]:
    """``lse-emulator`` as installed beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "lse-emulator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


class Server:
    """A server process that writes its URL to a ready file once it answers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], where: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.ready = where / f"{name}.ready"
        self.log = where / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 120) -> "Server":
        self.ready.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.argv, "--ready-file", str(self.ready)],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not start:\n{tail}")
            time.sleep(0.02)
        self.url = self.ready.read_text().strip()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def memory(self) -> dict[str, int]:
        """Current (VmRSS) and peak (VmHWM) resident memory of the process, in bytes."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return {"rss": values["VmRSS"], "peak": values["VmHWM"]}

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "Server":
        # A server started already (with a longer timeout, say) is not started a second time:
        # the first would be left running beside it, sharing its database and its work.
        running = self.process is not None and self.process.poll() is None
        return self if running else self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def emulator(where: Path, database_url: str, **settings: Any) -> Server:
    """``lse-emulator serve --port 0`` on the given database, settings as environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSE_EMULATOR_")}
    env["LSE_EMULATOR_DATABASE_URL"] = database_url
    env["LSE_EMULATOR_DATA_DIR"] = str(where)
    env.update({f"LSE_EMULATOR_{k.upper()}": str(v) for k, v in settings.items()})
    return Server("emulator", [*emulator_command(), "serve", "--port", "0"], env, where)


def floor(where: Path, list_file: Path | None = None) -> Server:
    """The floor app (bench/floor_app.py), served by uvicorn the way the emulator is."""
    argv = [sys.executable, str(BENCH / "floor_app.py"), "--port", "0"]
    if list_file is not None:
        argv += ["--list-file", str(list_file)]
    return Server("floor", argv, dict(os.environ), where)


def naive(where: Path, database_url: str) -> Server:
    """The naive insert app (bench/naive_app.py) on the given database, served as the floor."""
    argv = [sys.executable, str(BENCH / "naive_app.py"), "--port", "0"]
    return Server("naive", [*argv, "--database-url", database_url], dict(os.environ), where)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client(url: str, timeout: float = 600) -> httpx.Client:
    """An httpx client for setup and checks (not for load: see ``load``)."""
    return httpx.Client(base_url=url, headers=AUTH, timeout=timeout)


def checked(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} "
            f"{response.text[:500]}"
        )
    return response.json()


def write_seed(where: Path, projects: list[dict[str, Any]], name: str = "seed.json") -> Path:
    """A seed document with the demo organization, user and prompt 1 (versions 1 and 2)
    associated with the given projects (each {id, tasks, ground_truth}); JSON is YAML too."""
    document = {
        "organizations": [{"id": 1, "title": "Acme", "legacy_api_tokens_enabled": True}],
        "users": [
            {
                "id": 1,
                "email": "ada@acme.test",
                "username": "ada",
                "organization": 1,
                "token": DEMO_TOKEN,
            }
        ],
        "projects": [{"title": f"Project {p['id']}", "organization": 1, **p} for p in projects],
        "prompts": [
            {
                "id": 1,
                "title": "Ticket sentiment",
                "organization": 1,
                "associated_projects": [p["id"] for p in projects],
                "versions": [
                    {"id": 1, "title": "baseline", "accuracy": 0.72, "failure_rate": 0.0},
                    {"id": 2, "title": "few-shot", "accuracy": 0.91, "failure_rate": 0.0},
                ],
            }
        ],
    }
    path = where / name
    path.write_text(json.dumps(document))
    return path


# --- the load generator ---------------------------------------------------------------------


def raw_request(
    url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 keep-alive request, encoded once and sent as is on every iteration."""
    host = httpx.URL(url).netloc.decode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in AUTH.items())]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    if length is None:
        raise RuntimeError("response without Content-Length")
    return status, await reader.readexactly(length)


@dataclass
class LoadResult:
    clients: int
    requests: int
    seconds: float
    statuses: dict[int, int]
    latencies: list[float] = field(repr=False)
    # Server CPU seconds per answered request (user + system, all threads), when measured.
    cpu_per_request: float | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        text = (
            f"{self.per_second:,.1f} requests/s, p50 {self.percentile(50) * 1e3:.1f} ms, "
            f"p99 {self.percentile(99) * 1e3:.1f} ms ({self.requests} requests, "
            f"{self.clients} client{'s' if self.clients > 1 else ''})"
        )
        if self.cpu_per_request is not None:
            text += f", server CPU {self.cpu_per_request * 1e3:.2f} ms a request"
        return text

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]


async def _load(
    url: str,
    request: "bytes | Callable[[int], bytes]",
    clients: int,
    seconds: float,
    min_requests: int,
    max_requests: int | None,
    warmup: float,
    expect: int,
    limit: float,
    server: "Server | None",
) -> LoadResult:
    parsed = httpx.URL(url)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    wanted = max_requests if max_requests is not None else 1 << 62
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    give_up = measure_from + limit
    state = {"end": measure_from, "done": False, "answered": 0, "cpu": 0.0}
    sent = itertools.count()

    async def mark_cpu() -> None:
        await asyncio.sleep(warmup)
        state["cpu"] = server.cpu_seconds() if server else 0.0

    async def one_client() -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port, limit=1 << 20)
        try:
            while not state["done"]:
                data = request if isinstance(request, bytes) else request(next(sent))
                began = time.perf_counter()
                writer.write(data)
                status, _ = await _read_response(reader)
                ended = time.perf_counter()
                if ended >= measure_from:
                    state["answered"] += 1
                if state["done"] or ended < measure_from:
                    continue
                latencies.append(ended - began)
                statuses[status] += 1
                state["end"] = ended
                count = len(latencies)
                if count >= wanted or (ended >= stop_at and count >= min_requests):
                    state["done"] = True
                elif ended >= give_up:
                    state["done"] = True
        finally:
            writer.close()

    await asyncio.gather(mark_cpu(), *(one_client() for _ in range(clients)))
    cpu = (server.cpu_seconds() - state["cpu"]) / max(state["answered"], 1) if server else None
    unexpected = {s: n for s, n in statuses.items() if s != expect}
    if unexpected:
        raise RuntimeError(f"unexpected statuses during load: {unexpected}")
    elapsed = state["end"] - measure_from
    return LoadResult(clients, len(latencies), elapsed, dict(statuses), latencies, cpu)


def load(
    url: str,
    request: "bytes | Callable[[int], bytes]",
    *,
    clients: int,
    seconds: float,
    min_requests: int = 1,
    max_requests: int | None = None,
    warmup: float = 1.0,
    expect: int = 200,
    limit: float = 90.0,
    server: "Server | None" = None,
) -> LoadResult:
    """``clients`` keep-alive connections, each sending ``request`` back to back (given a
    function, the request it makes of a counter, each request a new count).

    Responses that complete in the first ``warmup`` seconds are not counted. Counting stops
    at ``max_requests`` responses, or once ``seconds`` have passed and at least
    ``min_requests`` were counted (but after ``limit`` seconds in any case); the rate is the
    counted responses over the time from the end of the warm-up to the last counted one.

    With ``server``, its CPU time per answered request is measured too (robust to a busy
    machine, unlike the rates). One asyncio loop, raw sockets, each request encoded once: a few tens of microseconds of
    client CPU per request, so that the client does not starve the server on two cores.
    """
    return asyncio.run(
        _load(
            url,
            request,
            clients,
            seconds,
            min_requests,
            max_requests,
            warmup,
            expect,
            limit,
            server,
        )
    )


def first_answers(
    server: "Server", path: str, seconds: float, min_requests: int, max_requests: int
) -> LoadResult:
    """GET ``path``, one client, each request's URL one the server has not answered before (a
    parameter the routes ignore, counted): what an answer costs when none is kept for it (see
    app/kept.py), as after every change to the database."""
    joiner = "&" if "?" in path else "?"

    def request(count: int) -> bytes:
        return raw_request(server.url, "GET", f"{path}{joiner}bench_first={count}")

    return load(server.url, request, clients=1, seconds=seconds, min_requests=min_requests,
                max_requests=max_requests, warmup=0.5, server=server)  # fmt: skip


# --- the profiler hook ----------------------------------------------------------------------


class Profile:
    """When --profile DIR is given: py-spy records the process while the block runs (CPU samples,
    all threads), writes raw collapsed stacks to DIR and prints the heaviest frames."""

    def __init__(self, args: argparse.Namespace, server: Server, label: str) -> None:
        self.directory = Path(args.profile) if args.profile else None
        self.server = server
        self.label = f"{label}-{args.backend}"
        self.gil = args.profile_gil
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Profile":
        if self.directory is None:
            return self
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            raise RuntimeError("--profile needs py-spy: pip install py-spy (benchmark-only)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.output = self.directory / f"{self.label}.txt"
        self.process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(self.server.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(self.output),
                "--nonblocking",
                *(["--gil"] if self.gil else []),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # let py-spy attach before the measured phase
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        print(f"  profile: {self.output}")
        print(summarize_profile(self.output))


# Leaf frames of threads that wait (py-spy without --idle still reports some of them): their
# samples are left out, so that the shares are of the time the server was working.
IDLE_LEAVES = ("select (selectors.py)", "wait (threading.py)", "Queue.get (queue.py)")


def summarize_profile(path: Path, top: int = 25) -> str:
    """The frames with the most samples, inclusive and self, from py-spy's raw output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f) for f in stack.split(";")]
        if frames[-1].endswith(IDLE_LEAVES):
            idle += n
            continue
        total += n
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    if not total:
        return "  (no samples)"
    out = [f"  {total} busy samples ({idle} waiting left out); inclusive (% of busy samples):"]
    skip = ("<module>", "run (", "_bootstrap", "_worker (", "run_until_complete", "main (app",
            "serve (app", "run_forever", "_run_once", "_run_module", "_run_code")  # fmt: skip
    shown = 0
    for name, n in inclusive.most_common():
        if any(s in name for s in skip):
            continue
        out.append(f"    {100 * n / total:5.1f}%  {name}")
        shown += 1
        if shown >= top:
            break
    out.append("  self:")
    for name, n in own.most_common(15):
        out.append(f"    {100 * n / total:5.1f}%  {name}")
    return "\n".join(out)


def _frame_name(frame: str) -> str:
    """'function (path/to/file.py:123)' -> 'function (file.py)', with app/ paths kept."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    if "/app/" in where:
        where = "app/" + where.split("/app/", 1)[1]
    else:
        where = "/".join(where.split("/")[-2:])
    return f"{name} ({where})"


# --- results --------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure, its baseline measured in the same run, and its goal."""

    benchmark: str
    backend: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    goal: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def report(figures: list[Figure]) -> None:
    """Print the figures for a reader, then one machine-readable line for run_all.py."""
    print()
    for f in figures:
        line = f"  {f.figure}: {fmt(f.value)} {f.unit}"
        if f.baseline is not None:
            line += f"; baseline ({f.baseline_label}): {fmt(f.baseline)}; ratio {fmt(f.ratio)}"
        if f.goal:
            line += f"; goal {f.goal}: {'met' if f.met else 'MISSED'}"
        if f.note:
            line += f" [{f.note}]"
        print(line)
    rows = [asdict(f) | {"ratio": f.ratio} for f in figures]
    print(RESULT_PREFIX + json.dumps({"machine": machine(), "figures": rows}), flush=True)


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def mib(n_bytes: float) -> float:
    return n_bytes / (1024 * 1024)


# --- the raw baseline: fetching and encoding alone ---------------------------------------


@dataclass
class RawCost:
    """What fetching an answer's rows with hand-written SQL through the driver, and encoding the
    answer with orjson, cost in this process: medians over the iterations, in seconds."""

    fetch_cpu: float
    encode_cpu: float
    wall: float
    rows: int

    @property
    def cpu(self) -> float:
        return self.fetch_cpu + self.encode_cpu

    def summary(self) -> str:
        return (
            f"raw fetch ({self.rows:,} rows) + orjson encoding: {self.wall * 1e3:.2f} ms wall, "
            f"CPU {self.cpu * 1e3:.2f} ms (fetch {self.fetch_cpu * 1e3:.2f}, "
            f"encode {self.encode_cpu * 1e3:.2f})"
        )


def _driver_connection(url: str) -> Any:
    """A plain DB-API connection (sqlite3 or psycopg) to the database of an SQLAlchemy URL."""
    if url.startswith("sqlite:///"):
        import sqlite3

        return sqlite3.connect(url.removeprefix("sqlite:///"))
    from psycopg.types.string import TextLoader

    connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    # As sqlite3 hands them over: JSON and timestamps as their text, not decoded.
    for name in ("json", "jsonb", "timestamp", "timestamptz"):
        connection.adapters.register_loader(name, TextLoader)
    return connection


def raw_cost(url: str, queries: list[tuple[str, tuple[Any, ...]]], body: bytes,
             iterations: int = 50) -> RawCost:  # fmt: skip
    """The irreducible work of one answer: each query's rows fetched whole (fetchall, nothing
    decoded), then the answer (``body``, decoded once beforehand) encoded by orjson."""
    import orjson

    answer = orjson.loads(body)
    if not url.startswith("sqlite"):
        queries = [(sql.replace("?", "%s"), params) for sql, params in queries]
    connection = _driver_connection(url)
    fetches, encodes, walls = [], [], []
    rows = 0
    try:
        for index in range(iterations + 3):  # the first three warm the caches
            wall, cpu = time.perf_counter(), time.process_time()
            cursor = connection.cursor()
            rows = 0
            for sql, params in queries:
                cursor.execute(sql, params)
                rows += len(cursor.fetchall())
            cursor.close()
            connection.rollback()
            fetched = time.process_time()
            orjson.dumps(answer)
            encoded, ended = time.process_time(), time.perf_counter()
            if index >= 3:
                fetches.append(fetched - cpu)
                encodes.append(encoded - fetched)
                walls.append(ended - wall)
    finally:
        connection.close()
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    return RawCost(median(fetches), median(encodes), median(walls), rows)


def raw_figure(benchmark: str, backend: str, label: str, raw: RawCost,
               floor_p99: float) -> Figure:  # fmt: skip
    """The raw baseline as a figure beside the floor's p99: whether 2x the floor is below what
    fetching and encoding alone cost."""
    wall = raw.wall * 1e3
    return Figure(benchmark, backend, f"{label} raw fetch + encode, bench process (CPU "
                  f"{raw.cpu * 1e3:.2f} ms)", wall, "ms", floor_p99, "floor p99 ms",
                  note="2x floor below it" if wall > 2 * floor_p99 else "")  # fmt: skip


# --- bulk state through the control plane ---------------------------------------------------


def run_template(http: httpx.Client) -> dict[str, Any]:
    """An export of the current state in which one settled run (prompt 1, version 1, project 1,
    HasGT) shows the rows a run leaves: its model_run row, run events and predictions."""
    checked(http.post("/_emulator/clock", json={"freeze": True}))
    checked(http.post(RUNS_PATH, json={"project": 1, "project_subset": "HasGT"}), 201)
    checked(http.post("/_emulator/clock", json={"advance_seconds": 3600}))
    return checked(http.get("/_emulator/export"))


def bulk_document(
    template: dict[str, Any],
    runs: int,
    *,
    matching: int | None = None,
    events_per_run: bool = True,
    predictions_per_run: int = 0,
) -> dict[str, Any]:
    """An import document holding ``runs`` completed runs cloned from the template's one run.

    The first ``matching`` (default all) are runs of prompt 1 version 1 on project 1; the others
    are of version 2, so that a list of version 1 does not answer them. Each run keeps its
    history events when ``events_per_run``, and has ``predictions_per_run`` predictions on the
    first tasks of project 1.
    """
    matching = runs if matching is None else matching
    tables = template["tables"]
    (run_row,) = tables["model_run"]
    events = tables["run_event"]
    prediction = tables["prediction"][0]
    task_ids = [t["id"] for t in tables["task"] if t["project_id"] == 1][:predictions_per_run]
    model_runs, run_events, predictions = [], [], []
    for index in range(runs):
        run_id = index + 1
        version = 1 if index < matching else 2
        model_runs.append(run_row | {"id": run_id, "version_id": version})
        if events_per_run:
            for event in events:
                run_events.append(event | {"id": len(run_events) + 1, "run_id": run_id})
        for task_id in task_ids:
            predictions.append(
                prediction
                | {
                    "id": len(predictions) + 1,
                    "run_id": run_id,
                    "task_id": task_id,
                    "version_id": version,
                }  # fmt: skip
            )
    return template | {
        "tables": tables
        | {
            "model_run": model_runs,
            "run_event": run_events,
            "prediction": predictions,
            "failed_prediction": [],
            "run_task": [],
        }
    }
