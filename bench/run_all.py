"""Run every benchmark on both backends and print the figures as one markdown table.

    python bench/run_all.py [--backends sqlite,postgresql] [--only create,poll] [--profile DIR]
        [--output results.md]

Each benchmark runs as its own process (python bench/<name>.py --backend B); its output is
shown as it comes, and its last line (BENCH_RESULT {...}) is collected for the table.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _common as c

BENCHMARKS = [
    "create",
    "poll",
    "reads",
    "lifecycle",
    "external",
    "cold_start",
    "reset",
    "big_project",
]


def run(name: str, backend: str, profile: str | None) -> tuple[list[dict], dict | None, str]:
    """Run one benchmark; answers its figures, the machine it reported and an error, if any."""
    command = [sys.executable, str(c.BENCH / f"{name}.py"), "--backend", backend]
    if profile:
        command += ["--profile", profile]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=c.REPO
    )
    result = None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(c.RESULT_PREFIX):
            result = json.loads(line.removeprefix(c.RESULT_PREFIX))
        else:
            print(line, end="", flush=True)
    code = process.wait()
    if code != 0 or result is None:
        return [], None, f"exit status {code}"
    return result["figures"], result["machine"], ""


def table(rows: list[dict], errors: list[tuple[str, str, str]]) -> str:
    lines = [
        "| benchmark | backend | figure | value | baseline | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        value = f"{c.fmt(r['value'])} {r['unit']}"
        baseline = f"{c.fmt(r['baseline'])} ({r['baseline_label']})" if r["baseline"] else "-"
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        figure = r["figure"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(
            f"| {r['benchmark']} | {r['backend']} | {figure} | {value} | {baseline} | "
            f"{c.fmt(r['ratio'])} | {r['goal'] or '-'} | {met} |"
        )
    for name, backend, error in errors:
        lines.append(f"| {name} | {backend} | FAILED: {error} | | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(c.BACKENDS))
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--profile", metavar="DIR", help="passed on to every benchmark")
    parser.add_argument("--output", help="also write the markdown table to this file")
    args = parser.parse_args()
    rows: list[dict] = []
    errors: list[tuple[str, str, str]] = []
    machine = c.machine()
    began = time.monotonic()
    for name in args.only.split(","):
        for backend in args.backends.split(","):
            figures, reported, error = run(name, backend, args.profile)
            rows += figures
            if error:
                errors.append((name, backend, error))
            print(flush=True)
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    text = (
        f"Machine: {machine['cpus']} cpus ({machine['cpu_model']}), python {machine['python']}, "
        f"{machine['platform']}, {machine['date']}; load average {machine['load_average']} "
        f"before, {machine['load_average_after']} after; "
        f"{(time.monotonic() - began) / 60:.1f} minutes.\n\n" + table(rows, errors)
    )
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
