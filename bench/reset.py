"""POST /_emulator/reset after 10,000 runs, against a reset of the boot state.

The state is loaded through POST /_emulator/import of a generated export document (cloned from
one real run; not through the API): 10,000 completed runs of the demo prompt on project 1, each
with its two history events and 10 predictions (100,000 predictions), which is what 10,000 runs
of 10 tasks leave. The server runs with an admin token, so that the export carries the
connections' secrets and the import leaves the seed data unchanged (as runs made through the API
do). The time is the client's, from sending the reset to its answer, once the server is done
with the import. Baseline: a reset of the boot state (the demo seed only). Goal: < 100 ms.

    python bench/reset.py [--backend sqlite|postgresql] [--runs 10000] [--predictions-per-run 10]
"""

import statistics
import time

import _common as c
import httpx

# With an admin token in force the export carries the connections' secrets, so importing it
# leaves the seed data as the seed made it: the reset then removes what runs added, as after
# 10,000 runs made through the API (a masked export would make it reload the seed).
ADMIN_TOKEN = "bench-admin-token"


def template(control: httpx.Client, ada: httpx.Client) -> dict:
    """c.run_template with the control plane's client apart."""
    c.checked(control.post("/_emulator/clock", json={"freeze": True}))
    c.checked(ada.post(c.RUNS_PATH, json={"project": 1, "project_subset": "HasGT"}), 201)
    c.checked(control.post("/_emulator/clock", json={"advance_seconds": 3600}))
    return c.checked(control.get("/_emulator/export"))


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
        big = {"max_body_bytes": 512 * 1024 * 1024, "admin_token": ADMIN_TOKEN}
        with (
            c.emulator(where, url, **big) as server,
            c.client(server.url) as ada,
            httpx.Client(
                base_url=server.url, headers={"Authorization": f"Token {ADMIN_TOKEN}"}, timeout=600
            ) as http,
        ):
            document = c.bulk_document(
                template(http, ada), args.runs, predictions_per_run=args.predictions_per_run
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
                # The import's session is closed on the server's event loop after its answer:
                # wait for it, so that the reset's time is the reset's alone.
                c.checked(http.get("/_emulator/health"))
                if round_ == args.rounds - 1:
                    with c.Profile(args, server, "reset"):
                        loaded.append(timed_reset(http))
                else:
                    loaded.append(timed_reset(http))
            print(f"  reset after {args.runs:,} runs: {', '.join(f'{t:.0f}' for t in loaded)} ms")
            runs = c.checked(ada.get(c.RUNS_PATH))
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
