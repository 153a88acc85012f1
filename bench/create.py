"""Create throughput with 16 concurrent clients, and the server's peak memory meanwhile.

Every client sends POST /api/prompts/1/versions/1/inference-runs {"project": 1,
"project_subset": "All"} back to back on its own keep-alive connection, to the emulator (demo
seed, clock frozen so that no lifecycle step runs meanwhile) and then to the floor app
(bench/floor_app.py), and then to the naive insert app (bench/naive_app.py, on a database of the
same backend). Figures: emulator requests/s over floor requests/s (goal >= 0.5 on SQLite, >= 0.4
on PostgreSQL) and over the naive app's (goal >= 2), the emulator's server CPU per request (goal
<= 2 ms), and its peak resident memory, VmHWM of /proc/PID/status (goal < 150 MB).

    python bench/create.py [--backend sqlite|postgresql] [--seconds 10] [--clients 16]
"""

import _common as c

BODY = {"project": 1, "project_subset": "All"}


def main() -> None:
    args = c.arguments(
        __doc__.splitlines()[0],
        seconds={"type": float, "default": 10.0, "help": "measured seconds per server"},
        clients={"type": int, "default": 16},
    )
    c.header("create", args)
    with c.workdir(args, "create") as where:
        with c.floor(where) as floor:
            request = c.raw_request(floor.url, "POST", c.RUNS_PATH, BODY)
            base = c.load(floor.url, request, clients=args.clients, seconds=args.seconds,
                          warmup=2, expect=201, server=floor)  # fmt: skip
            floor_memory = floor.memory()
        print(f"  floor: {base.summary()}")

        with c.database(args.backend, where, "naive") as url, c.naive(where, url) as naive:
            request = c.raw_request(naive.url, "POST", c.RUNS_PATH, BODY)
            plain = c.load(naive.url, request, clients=args.clients, seconds=args.seconds,
                           warmup=2, expect=201, server=naive)  # fmt: skip
        print(f"  naive: {plain.summary()}")

        with c.database(args.backend, where) as url, c.emulator(where, url) as server:
            with c.client(server.url) as http:
                c.checked(http.post("/_emulator/clock", json={"freeze": True}))
            request = c.raw_request(server.url, "POST", c.RUNS_PATH, BODY)
            with c.Profile(args, server, "create"):
                result = c.load(server.url, request, clients=args.clients, seconds=args.seconds,
                                warmup=2, expect=201, server=server)  # fmt: skip
            memory = server.memory()
            with c.client(server.url) as http:
                stored = len(c.checked(http.get(c.RUNS_PATH, params={"project": 1})))
        print(f"  emulator: {result.summary()}; {stored:,} runs stored")

    share = 0.5 if args.backend == "sqlite" else 0.4
    cpu_ms = result.cpu_per_request * 1e3
    c.report(
        [
            c.Figure("create", args.backend, f"create throughput, {args.clients} clients",
                     result.per_second, "requests/s", base.per_second, "floor requests/s",
                     f">= {share} of floor", result.per_second >= share * base.per_second),
            c.Figure("create", args.backend, f"create throughput against the naive insert app, "
                     f"{args.clients} clients", result.per_second, "requests/s",
                     plain.per_second, "naive app requests/s", ">= 2x naive",
                     result.per_second >= 2 * plain.per_second),
            c.Figure("create", args.backend, "server CPU per create request", cpu_ms, "ms",
                     base.cpu_per_request * 1e3, "floor CPU ms a request", "<= 2 ms",
                     cpu_ms <= 2.0, f"naive app: {plain.cpu_per_request * 1e3:.2f} ms"),
            c.Figure("create", args.backend, "peak RSS during create", c.mib(memory["peak"]),
                     "MiB", c.mib(floor_memory["peak"]), "floor peak RSS MiB", "< 150 MB",
                     memory["peak"] < 150e6),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
