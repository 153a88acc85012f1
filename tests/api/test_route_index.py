"""The application's router tries only the routes that could match a request's path
(app/routing.py, RouteIndex), and chooses what a scan of every route chooses: the same route
with the same path parameters, the same route for a 405 (a path matched with another method),
the same 404, the same mounts."""

import asyncio
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.main import create_app
from app.routing import RouteIndex

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
NOT_FOUND = "not found"


def _sample(route: Any) -> str:
    """A path the route matches: each parameter given a value of its convertor's kind."""
    path: str = route.path_format
    for name, convertor in route.param_convertors.items():
        kind = type(convertor).__name__
        value = {"IntegerConvertor": "12", "FloatConvertor": "1.5", "PathConvertor": "a/b.js"}
        path = path.replace("{" + name + "}", value.get(kind, "34"))
    return path


def _wrong(path: str) -> list[str]:
    """Paths near one that matches: longer, shorter, another case, a final newline."""
    return [path + "x", path + "/", path + "/7", path[:-1], path.rstrip("/"), path.upper(),
            path + "\n", path + "\n\n", path.replace("/", "//", 2), path + "?a=1"]  # fmt: skip


ODD = ["", "/", "//", "/api", "/api/", "/api/x", "/x", "/\n", "/metrics\n", "/api/version/\n",
       "/api/predictions", "/api/predictions/12", "/api/prompts/{id}/", "/api/prompts/%7B/",
       "/docs/assets", "/docs/assets/", "/_emulator/console/", "/_emulator/console",
       "/api/projects/12/imports//", "/api/prompts/1/versions/2/few-shot-examples/3/x"]  # fmt: skip


def _paths(routes: list[BaseRoute]) -> list[str]:
    paths = list(ODD)
    for route in routes:
        paths.append(_sample(route))
        paths += _wrong(_sample(route))
    return sorted(set(paths))


def _recording(router: Router, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make each route (and the router's 404) record what it was asked to handle, for the
    test (the routes are the routers' of app.api, shared by every application)."""
    chosen: list[Any] = []

    def recorder(route: BaseRoute | str) -> Any:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            chosen.append((route, scope.get("path_params"), scope.get("router") is router))

        return handle

    for route in router.routes:
        monkeypatch.setattr(route, "handle", recorder(route))
    monkeypatch.setattr(router, "default", recorder(NOT_FOUND))
    return chosen


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "",
            "query_string": b"", "headers": []}  # fmt: skip


def _dispatch(router: Router, method: str, path: str, indexed: bool) -> tuple[Any, ...]:
    chosen = router.state_chosen  # type: ignore[attr-defined]
    app = router.middleware_stack if indexed else router.app
    asyncio.run(app(_scope(method, path), _receive, _send))
    assert len(chosen) == 1
    return tuple(chosen.pop())


async def _receive() -> Any:
    raise AssertionError("nothing is read")


async def _send(message: Any) -> None:
    raise AssertionError("nothing is sent")


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Router:
    router = create_app(Settings()).router
    assert isinstance(router.middleware_stack, RouteIndex)
    router.state_chosen = _recording(router, monkeypatch)  # type: ignore[attr-defined]
    return router


def test_every_route_is_a_candidate_for_the_paths_it_matches(router):
    index = router.middleware_stack
    assert len(router.routes) > 100
    for route in router.routes:
        path = _sample(route)
        assert any(route is other for other in index.candidates(path).routes), path
        assert any(route is other for other in index.candidates(path + "\n").routes) or (
            isinstance(route, Mount)
        )


def test_the_index_tries_few_of_the_routes(router):
    index = router.middleware_stack
    assert len(index.candidates("/api/predictions/").routes) < 10
    assert len(index.candidates("/api/current-user/whoami").routes) < 5


def test_each_path_and_method_is_dispatched_as_by_a_scan_of_every_route(router):
    paths = _paths(router.routes)
    assert len(paths) > 700
    dispatched = set()
    for path in paths:
        for method in METHODS:
            scanned = _dispatch(router, method, path, indexed=False)
            assert _dispatch(router, method, path, indexed=True) == scanned, (method, path)
            dispatched.add(id(scanned[0]))
    # Every route and the 404 were chosen for some request.
    assert {id(route) for route in router.routes} | {id(NOT_FOUND)} == dispatched


def test_routes_added_after_the_first_request_are_found(monkeypatch):
    app = create_app(Settings())
    app.router.state_chosen = _recording(app.router, monkeypatch)  # type: ignore[attr-defined]
    assert _dispatch(app.router, "GET", "/late/12", indexed=True)[0] == NOT_FOUND

    @app.get("/late/{id}")
    def late(id: int) -> None:
        return None

    app.router.state_chosen = _recording(app.router, monkeypatch)  # type: ignore[attr-defined]
    route, params, _ = _dispatch(app.router, "GET", "/late/12", indexed=True)
    assert route is app.router.routes[-1] and params == {"id": "12"}


def test_a_request_under_a_root_path_is_compared_with_every_route(router):
    scope = dict(_scope("GET", "/base/api/predictions/"), root_path="/base")
    asyncio.run(router.middleware_stack(scope, _receive, _send))
    route, params, _ = router.state_chosen.pop()
    assert route.path == "/api/predictions/" and "GET" in route.methods
