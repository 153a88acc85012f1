"""A route is analysed on its first use, not where it is declared (app/routing.py,
DeferredRoute): a start analyses none, and an analysed route is the one FastAPI makes from the
same arguments, documented and answering alike."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from app.routing import DeferredRoute

ROOT = Path(__file__).resolve().parents[2]
# The routes are the routers' of app.api and app.control, shared by every application of a
# process: what a start analyses is seen in a process of its own.
PRELUDE = """
import json, sys
from fastapi.routing import APIRoute
from app.config import Settings
from app.main import create_app
from app.routing import PLANNED, DeferredRoute
app = create_app(Settings(database_url="sqlite:///" + sys.argv[1]))
routes = [route for route in app.routes if isinstance(route, DeferredRoute)]
def analysed():
    return sorted(route.path for route in routes if "dependant" in vars(route))
"""


def _run(code: str, tmp_path: Path) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code, str(tmp_path / "db.sqlite3")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_an_application_analyses_its_routes_as_they_are_used(tmp_path: Path) -> None:
    found = _run(
        """
from fastapi.testclient import TestClient
seen = {"routes": len(routes), "paths": [r.path for r in routes], "at_start": analysed(),
        "plain": [r.path for r in app.routes if type(r) is APIRoute]}
with TestClient(app) as client:
    seen["status"] = client.get("/api/current-user/whoami").status_code
    seen["used"] = analysed()
    seen["planned"] = [r.path for r in routes if id(r) in PLANNED]
    seen["definition"] = client.get("/openapi.json").status_code
seen["at_end"] = len(analysed())
print(json.dumps(seen))
""",
        tmp_path,
    )
    # Every route of the API and the control plane is deferred, and a start analyses none.
    assert found["routes"] > 90 and found["plain"] == []
    assert {"/api/current-user/whoami", "/_emulator/clock"} <= set(found["paths"])
    assert found["at_start"] == []
    # A request analyses its route alone, which is then given its planned handler.
    assert found["status"] == 401
    assert found["used"] == found["planned"] == ["/api/current-user/whoami"]
    # The definition reads every route.
    assert found["definition"] == 200
    assert found["at_end"] == found["routes"]


def test_an_analysed_route_is_the_route_fastapi_makes(tmp_path: Path) -> None:
    """Each route of the application, analysed, against an APIRoute made from its arguments:
    the same state and the same documentation."""
    found = _run(
        """
from fastapi.openapi.utils import get_openapi
def documented(route):
    return get_openapi(title="t", version="1", routes=[route])
ALIKE = ("app", "dependant", "body_field", "response_field", "response_fields")
compared, different = 0, []
for route in routes:
    path, endpoint, options = vars(route)["_arguments"]
    made = APIRoute(path, endpoint, **options)
    if documented(route) != documented(made):  # analyses it
        different.append([path, "definition"])
    if "_arguments" in vars(route) or vars(route).keys() != vars(made).keys():
        different.append([path, "attributes"])
    different += [[path, name] for name, value in vars(made).items()
                  if name not in ALIKE and getattr(route, name) != value]
    parameters = [[p.name for p in r.dependant.query_params + r.dependant.path_params]
                  for r in (route, made)]
    if parameters[0] != parameters[1]:
        different.append([path, "parameters"])
    compared += 1
print(json.dumps({"compared": compared, "different": different}))
""",
        tmp_path,
    )
    assert found["compared"] > 90
    assert found["different"] == []


class _Slow(DeferredRoute):
    """A route whose analysis takes a while and counts itself."""

    analyses = 0

    def get_route_handler(self) -> Any:
        type(self).analyses += 1
        time.sleep(0.05)
        return super().get_route_handler()


def test_a_route_read_by_threads_at_once_is_analysed_once():
    router = APIRouter(route_class=_Slow)

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    (route,) = router.routes
    assert isinstance(route, _Slow) and _Slow.analyses == 0
    start = threading.Barrier(8)
    seen: list[Any] = []

    def read() -> None:
        start.wait()
        seen.append(route.app)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _Slow.analyses == 1
    assert len(seen) == 8 and all(handler is seen[0] for handler in seen)
    with pytest.raises(AttributeError):
        route.no_such_attribute  # noqa: B018  (an attribute no route has is still missing)


def test_a_route_declared_wrongly_fails_at_each_use():
    router = APIRouter(route_class=DeferredRoute)

    @router.get("/things", status_code=204)
    async def things() -> dict[str, int]:  # a body where 204 allows none
        return {}

    (route,) = router.routes
    for _ in range(2):
        with pytest.raises(AssertionError, match="must not have a response body"):
            route.app  # noqa: B018
