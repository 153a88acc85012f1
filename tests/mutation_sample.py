"""Mutation score of the whole of app/ estimated from a uniform random sample of its mutants.

    LSE_TEST_BACKENDS=sqlite python tests/mutation_sample.py [--size 400] [--seed 1] [--only app.seed]

A run over every mutant of app/ takes hours on two cores; a sample of a few hundred, drawn with
a fixed seed, gives the score within a few points in minutes. First `mutmut run` is given a
pattern no mutant matches: it generates every mutant and records which tests call which
function, then stops. The sample is then run by name and scored: killed (a test failed, or
timed out) over all drawn, "no tests" and survivors counting against it. Prints the counts, the
score with its 95 % Wilson interval, and the survivors (see one with `mutmut show NAME`).
"""

import argparse
import json
import math
import random
import subprocess
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
KILLED = {"killed", "timeout", "caught by type check"}


def exit_codes() -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in Path("mutants").rglob("*.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def wilson(killed: int, total: int, z: float = 1.96) -> tuple[float, float]:
    p = killed / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-children", default="2")
    parser.add_argument(
        "--only", action="append", default=[], metavar="MODULE",
        help="draw only from the mutants of this module (or package); may be repeated",
    )  # fmt: skip
    args = parser.parse_args()
    # Generates the mutants and the test-to-function map; exits since nothing matches.
    subprocess.run([MUTMUT, "run", "--max-children", args.max_children, "no-mutant-matches*"])
    names = sorted(exit_codes())
    if args.only:
        names = [n for n in names if any(n.startswith(m + ".") for m in args.only)]
    if not names:
        sys.exit("mutmut generated no mutant")
    sample = sorted(random.Random(args.seed).sample(names, min(args.size, len(names))))
    subprocess.run([MUTMUT, "run", "--max-children", args.max_children, *sample], check=True)
    codes = exit_codes()
    statuses = {name: status_by_exit_code[codes[name]] for name in sample}
    killed = sum(status in KILLED for status in statuses.values())
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    low, high = wilson(killed, len(sample))
    print(f"mutants of app/: {len(names)}; sample: {len(sample)} (seed {args.seed})")
    print("by status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"score: {killed}/{len(sample)} = {killed / len(sample):.1%} "
          f"(95 % interval {low:.1%} - {high:.1%})")  # fmt: skip
    for name, status in sorted(statuses.items()):
        if status not in KILLED:
            print(f"  {status}: {name}")


if __name__ == "__main__":
    main()
