"""Routes whose dependencies are solved by a plan (app/routing.py) answer as FastAPI's own
handler would: the same calls in the same order, the same values, the same errors."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.config import Settings
from app.main import create_app
from app.routing import PLANNED, make_plan, plan_route


def _app(planned: bool, calls: list[str]) -> FastAPI:
    """A small application whose dependencies record their calls: a shared dependency, one
    of a dependency, path and query parameters, a plain function endpoint."""

    async def first(request: Request) -> str:
        calls.append("first")
        if request.headers.get("x-fail") == "first":
            raise ValueError("first failed")
        return "one"

    async def second(request: Request, one: Annotated[str, Depends(first)]) -> str:
        calls.append("second")
        return one + "+two"

    async def third() -> int:
        calls.append("third")
        return 3

    async def session() -> AsyncIterator[str]:
        yield "session"

    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"errors": [dict(e, loc=list(e["loc"])) for e in error.errors()]},
                            status_code=422)  # fmt: skip

    @app.exception_handler(ValueError)
    def failed(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse({"failed": str(error)}, status_code=400)

    @app.post("/things/{thing_id}/parts/{part_id}")
    async def post_part(
        thing_id: int,
        part_id: int,
        request: Request,
        a: Annotated[str, Depends(first)],
        b: Annotated[str, Depends(second)],
        c: Annotated[int, Depends(third)],
        limit: Annotated[int | None, Query()] = None,
        name: Annotated[str | None, Query()] = None,
    ) -> JSONResponse:
        calls.append("endpoint")
        return JSONResponse({"thing": thing_id, "part": part_id, "a": a, "b": b, "c": c,
                             "limit": limit, "name": name, "method": request.method})  # fmt: skip

    @app.get("/plain/{thing_id}")
    def plain(thing_id: int, c: Annotated[int, Depends(third)]) -> JSONResponse:
        calls.append("plain")
        return JSONResponse({"thing": thing_id, "c": c})

    @app.get("/session")
    async def with_session(s: Annotated[str, Depends(session)]) -> JSONResponse:
        return JSONResponse({"s": s})

    if planned:
        for route in app.routes:
            if isinstance(route, APIRoute) and route.path != "/session":
                route.dependency_overrides_provider = None  # as a router's route has it
                plan_route(route)
    return app


def _answers(planned: bool) -> list[tuple[Any, ...]]:
    calls: list[str] = []
    app = _app(planned, calls)
    requests = [
        ("POST", "/things/1/parts/2", {}),
        ("POST", "/things/1/parts/2?limit=5&name=x", {}),
        ("POST", "/things/x/parts/y?limit=z", {}),
        ("POST", "/things/1/parts/99999999999999999999999", {}),
        ("POST", "/things/1/parts/2", {"x-fail": "first"}),
        ("POST", "/things/ 7 /parts/+8?limit=1_000", {}),
        ("GET", "/plain/4", {}),
        ("GET", "/plain/nope", {}),
        # Integers written otherwise than Python writes them, or beyond 18 digits.
        *(
            ("GET", f"/plain/{text}", {})
            for text in (
                "0",
                "007",
                "-1",
                "+1",
                "1.0",
                "1e3",
                "\uff11",
                "1_0",
                "",
                "123456789012345678",
                "1234567890123456789",
                "99999999999999999999999",
                "٣",
            )
        ),
        # Optional query parameters given, repeated, empty or odd.
        *(
            ("POST", f"/things/1/parts/2?{query}", {})
            for query in (
                "name=",
                "name=a&name=b",
                "limit=",
                "limit=007",
                "limit=-3",
                "limit=4&limit=x",
                "limit=x&limit=4",
                "name=%C3%A9t%C3%A9&limit=12",
                "other=1",
                "limit=1.5",
            )
        ),
    ]

    async def run() -> list[tuple[Any, ...]]:
        answers = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for method, url, headers in requests:
                calls.clear()
                response = await client.request(method, url, headers=headers)
                answers.append((url, response.status_code, response.json(), list(calls)))
        return answers

    return asyncio.run(run())


def test_a_planned_route_answers_as_fastapis_handler():
    planned, solved = _answers(True), _answers(False)
    assert planned == solved
    # The cases are what they claim: answers, a validation error and a dependency's failure.
    assert [status for _, status, _, _ in planned[:8]] == [200, 200, 422, 200, 400, 200, 200, 422]
    assert planned[0][3] == ["first", "second", "third", "endpoint"]


def test_a_dependency_with_yield_leaves_the_route_to_fastapi():
    calls: list[str] = []
    app = _app(False, calls)
    routes = {r.path: r for r in app.routes if isinstance(r, APIRoute)}
    for route in routes.values():
        route.dependency_overrides_provider = None
    assert make_plan(routes["/session"]) is None
    assert make_plan(routes["/plain/{thing_id}"]) is not None


def test_the_hot_routes_are_planned():
    routes = [r for r in create_app(Settings()).routes if isinstance(r, APIRoute)]
    # A route is planned when it is first used (app.routing.DeferredRoute): its handler read.
    assert all(route.app is not None for route in routes)
    planned = {(min(r.methods), r.path) for r in routes if id(r) in PLANNED}
    assert {
        ("POST", "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"),
        ("GET", "/api/predictions/"),
        ("GET", "/api/current-user/whoami"),
        ("GET", "/api/prompts/{prompt_id}/versions"),
    } <= planned
    # What is left to FastAPI is what the plan cannot solve.
    assert all(make_plan(route) is None for route in routes if id(route) not in PLANNED)
