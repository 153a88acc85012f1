"""POST /_emulator/reset after 10,000 runs, against a reset of the boot state.

The state is loaded through POST /_emulator/import of a generated export document (cloned from
one real run; not through the API): 10,000 completed runs of the demo prompt on project 1, each
with its two history events and 10 predictions (100,000 predictions), which is what 10,000 runs
of 10 tasks leave. The time is the client's, from sending the reset to its answer. Baseline: a
reset of the boot state (the demo seed only). Goal: < 100 ms.

    python bench/reset.py [--backend sqlite|postgresql] [--runs 10000] [--predictions-per-run 10]
"""

import statistics
import time

import _common as c


def timed_reset(http) -> float:
    began = time.perf_counter()
    c.checked(http.post("/_emulator/reset"))
    return (time.perf_counter() - began) * 1e3


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        runs={"type": int, "default": 10_000},
        predictions_per_run={"type": int, "default": 10},
        rounds={"type": int, "default": 3},
    )
    c.header("reset", args)
    with c.workdir(args, "reset") as where, c.database(args.backend, where) as url:
        big = {"max_body_bytes": 512 * 1024 * 1024}
        with c.emulator(where, url, **big) as server, c.client(server.url) as http:
            document = c.bulk_document(
                c.run_template(http), args.runs, predictions_per_run=args.predictions_per_run
            )
            tables = document["tables"]
            print(
                f"  state: {len(tables['model_run']):,} runs, {len(tables['run_event']):,} "
                f"events, {len(tables['prediction']):,} predictions (through /_emulator/import)"
            )
            timed_reset(http)
            base = [timed_reset(http) for _ in range(args.rounds)]
            print(f"  reset of the boot state: {', '.join(f'{t:.0f}' for t in base)} ms")
            loaded = []
            for round_ in range(args.rounds):
                c.checked(http.post("/_emulator/import", json=document))
                if round_ == args.rounds - 1:
                    with c.Profile(args, server, "reset"):
                        loaded.append(timed_reset(http))
                else:
                    loaded.append(timed_reset(http))
            print(f"  reset after {args.runs:,} runs: {', '.join(f'{t:.0f}' for t in loaded)} ms")
            runs = c.checked(http.get(c.RUNS_PATH))
            assert runs == [], "runs left after reset"
    value, baseline = statistics.median(loaded), statistics.median(base)
    c.report(
        [
            c.Figure("reset", args.backend, f"reset after {args.runs:,} runs (median)", value,
                     "ms", baseline, "reset of the boot state ms", "< 100 ms", value < 100),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
