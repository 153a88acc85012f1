"""Cold start: from process start to the first 200 of GET /_emulator/health.

``lse-emulator serve --port P`` is started on a fresh database (migrations and the demo seed
run first: a test suite's usual start) and again on the database it left (a restart); the
client polls /_emulator/health every 5 ms from just before the process is spawned. Baseline:
the wall time of ``python -c "import fastapi, sqlmodel, uvicorn"``. Figure: the median over
``--rounds`` starts, over the baseline's median. Goal: <= 1.3. The application's bytecode is
compiled first, as an installed package has it. Each round measures the baseline beside its two
starts, so that a change of the machine's load moves both; the CPU time of each (the server's
at its first healthy answer) is printed too, the steadier figure on a shared machine.

With --profile DIR: the imports the server adds to the baseline's, by cumulative time
(``python -X importtime``), written to DIR and the heaviest printed; and one start recorded
by py-spy from its first instruction to the first healthy answer.

    python bench/cold_start.py [--backend sqlite|postgresql] [--rounds 5]
"""

import http.client
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common as c


def compile_bytecode() -> None:
    """Compile the application's bytecode, as an installed package has it: with
    PYTHONDONTWRITEBYTECODE set, an editable install would otherwise compile every module from
    source at each start, while the baseline's packages have theirs."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(c.REPO / "app")], check=True)


def import_seconds() -> tuple[float, float]:
    """Wall time and CPU time of the baseline's process."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", "import fastapi, sqlmodel, uvicorn"])
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise RuntimeError(f"the baseline's imports failed (wait status {status})")
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/_emulator/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_seconds(where: Path, url: str) -> tuple[float, float]:
    """Seconds from spawning the server to its first healthy answer, and the server's CPU time
    then; the server is stopped."""
    port = c.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSE_EMULATOR_")}
    env |= {"LSE_EMULATOR_DATABASE_URL": url, "LSE_EMULATOR_DATA_DIR": str(where)}
    log = (where / "server.log").open("ab")
    began = time.perf_counter()
    process = subprocess.Popen(
        [*c.emulator_command(), "serve", "--port", str(port)],
        env=env,
        cwd=c.REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        while not healthy(port):
            if process.poll() is not None or time.perf_counter() - began > 60:
                raise RuntimeError(f"the server did not start: see {where / 'server.log'}")
            time.sleep(0.005)
        return time.perf_counter() - began, cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def import_profile(directory: Path) -> str:
    """The modules that importing the server (app.cli, app.main) adds to the baseline's."""

    def times(code: str) -> dict[str, tuple[int, str]]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True, text=True, check=True, cwd=c.REPO,
        )  # fmt: skip
        found = {}
        for line in done.stderr.splitlines():
            if line.startswith("import time:") and "self [us]" not in line:
                _, cumulative, name = line.split("|")
                found[name.strip()] = (int(cumulative), name.rstrip())
        return found

    # With the collector paused, as the lse-emulator command imports (app.launcher): else its
    # passes land in whichever module is being imported when they fall due.
    base = times("import gc; gc.disable(); import fastapi, sqlmodel, uvicorn")
    full = times(
        "import gc; gc.disable(); import fastapi, sqlmodel, uvicorn; import app.cli, app.main"
    )
    extra = {k: v for k, v in full.items() if k not in base}
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"{v[0] / 1e3:8.1f} ms  {v[1]}" for v in sorted(extra.values(), reverse=True)]
    (directory / "cold_start-imports.txt").write_text("\n".join(lines) + "\n")
    return "  imports beyond the baseline (cumulative):\n" + "\n".join(
        "  " + line for line in lines[:25]
    )


def spy_start(where: Path, url: str, directory: Path, backend: str) -> str:
    """One start under py-spy (the whole process from its first instruction)."""
    spy = Path(sys.executable).parent / "py-spy"
    output = directory / f"cold_start-{backend}.txt"
    port = c.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LSE_EMULATOR_")}
    env |= {"LSE_EMULATOR_DATABASE_URL": url, "LSE_EMULATOR_DATA_DIR": str(where)}
    process = subprocess.Popen(
        [str(spy), "record", "--rate", "500", "--format", "raw", "--output", str(output),
         "--subprocesses", "--", *c.emulator_command(), "serve", "--port", str(port)],
        env=env, cwd=c.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not healthy(port):
            time.sleep(0.005)
    finally:
        # Stop the server (py-spy's child, by its id); py-spy then writes the profile.
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        process.wait(timeout=60)
    return f"  profile: {output}\n" + c.summarize_profile(output, top=30)


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], rounds={"type": int, "default": 5})
    c.header("cold_start", args)
    compile_bytecode()
    import_seconds()  # warm the file cache
    base, fresh, restart = [], [], []
    with c.workdir(args, "cold") as where:
        for round_ in range(args.rounds):
            base.append(import_seconds())
            directory = where / f"round{round_}"
            directory.mkdir()
            with c.database(args.backend, directory) as url:
                fresh.append(start_seconds(directory, url))
                restart.append(start_seconds(directory, url))
        if args.profile:
            print(import_profile(Path(args.profile)))
            directory = where / "profiled"
            directory.mkdir()
            with c.database(args.backend, directory) as url:
                print(spy_start(directory, url, Path(args.profile), args.backend))
    cpu_base = statistics.median(cpu for _, cpu in base)
    for name, values in (("import baseline", base), ("fresh database", fresh),
                         ("restart", restart)):  # fmt: skip
        cpu = statistics.median(cpu for _, cpu in values)
        print(f"  {name}: {', '.join(f'{v:.2f}' for v, _ in values)} s; CPU median {cpu:.2f} s"
              f" ({cpu / cpu_base:.2f}x the baseline's)")  # fmt: skip
    baseline = statistics.median(wall for wall, _ in base)
    figures = []
    for name, values in (("fresh database", fresh), ("restart on its database", restart)):
        value = statistics.median(wall for wall, _ in values)
        figures.append(
            c.Figure(
                "cold_start",
                args.backend,
                f"cold start, {name} (median)",
                value,
                "s",
                baseline,
                "import fastapi, sqlmodel, uvicorn s",
                "<= 1.3x import",
                value <= 1.3 * baseline,
            )  # fmt: skip
        )
    c.report(figures)


if __name__ == "__main__":
    main()
