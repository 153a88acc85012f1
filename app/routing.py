"""Routes whose dependencies are solved by a plan made once, when the route is added.

FastAPI solves a route's dependency tree anew for every request: for each dependency, its own
sub-tree, its cache key, its scopes, four passes over parameter kinds, whether it is a
generator: about 12 us of CPU for one that only returns an attribute of the application's
state. The tree is the same for every request, so a plan of it is made once: the calls in the
order FastAPI makes them (depth first, each dependency once, as FastAPI's cache has it), each
with its request and the values it takes of the calls before it; then the endpoint's path and
query parameters, validated by FastAPI's own function (the same values and the same errors),
except the texts that need no validation: an int path parameter written as Python writes an
int, an optional str or int query parameter absent, given, or such an int.

A route is planned only when every dependency is a coroutine function taking nothing but the
request and other such dependencies, and the endpoint answers a Response of its own (no
response model to serialize, no body parameter, no headers, cookies, background tasks or
security scopes). Any other route keeps FastAPI's handler: a dependency with ``yield`` (a
session) needs the request's exit stacks, and the rest are FastAPI's features this plan does
not copy.

The application's router dispatches a request among the routes that could match its path
(RouteIndex, below), not every route; and a route's analysis waits for its first use
(DeferredRoute, below).
"""

import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import fastapi.utils
from fastapi._compat import annotation_is_pydantic_v1
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, request_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import (
    BaseRoute,
    Mount,
    Route,
    Router,
    WebSocketRoute,
    compile_path,
    get_name,
)
from starlette.types import Receive, Scope, Send


class Step(NamedTuple):
    """One dependency's call: its function, the name of its request parameter (if any), and
    for each of its other parameters the index of the step whose value it takes."""

    call: Callable[..., Awaitable[Any]]
    request: str | None
    takes: tuple[tuple[str, int], ...]


class Plan(NamedTuple):
    """A route's dependencies in the order they are called, and what the endpoint takes."""

    steps: tuple[Step, ...]
    # The endpoint's parameters that name a step's value, and the name of its request's.
    takes: tuple[tuple[str, int], ...]
    request: str | None


def _plain(dependant: Dependant) -> bool:
    """Whether a dependant needs nothing of FastAPI but its request and its dependencies."""
    return not (
        dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.parent_oauth_scopes
        or dependant.concurrency is not None
        or not dependant.use_cache
    )


def make_plan(route: APIRoute) -> Plan | None:
    """The plan of a route's dependencies, or None when FastAPI must solve them."""
    endpoint = route.dependant
    returns = inspect.signature(route.endpoint).return_annotation
    if (
        not _plain(endpoint)
        or route.body_field is not None
        or route.response_field is not None
        or route.dependency_overrides_provider is not None
        or route.max_body_size is not None
        or not (inspect.isclass(returns) and issubclass(returns, Response))
        or inspect.isgeneratorfunction(route.endpoint)
        or inspect.isasyncgenfunction(route.endpoint)
    ):
        return None
    steps: list[Step] = []
    index: dict[Callable[..., Any], int] = {}

    def visit(dependant: Dependant) -> int | None:
        call = dependant.call
        if call is None or not (_plain(dependant) and inspect.iscoroutinefunction(call)):
            return None
        if dependant.path_params or dependant.query_params:
            return None
        takes = taken(dependant)
        if takes is None:
            return None
        if call not in index:
            index[call] = len(steps)
            steps.append(Step(call, dependant.request_param_name, takes))
        return index[call]

    def taken(dependant: Dependant) -> tuple[tuple[str, int], ...] | None:
        """Each sub-dependency's parameter name and step, or None if one cannot be planned."""
        takes = []
        for sub in dependant.dependencies:
            found = visit(sub)
            if found is None or sub.name is None:
                return None
            takes.append((sub.name, found))
        return tuple(takes)

    takes = taken(endpoint)
    if takes is None:
        return None
    return Plan(tuple(steps), takes, endpoint.request_param_name)


def _plain_int(field: Any) -> bool:
    info = field.field_info
    return bool(info.annotation is int and not info.metadata and field.alias == field.name)


def _optional_kind(field: Any) -> type | None:
    """str or int for a parameter that is an optional one of them, None by default, with
    nothing else to validate; else None."""
    info = field.field_info
    if (
        info.metadata
        or field.alias != field.name
        or info.validation_alias is not None
        or info.default is not None
        or info.default_factory is not None
    ):
        return None
    return next((kind for kind in (str, int) if info.annotation == kind | None), None)


def _optional_values(
    request: Request, optional: tuple[tuple[str, type | None], ...], values: dict[str, Any]
) -> bool:
    """The optional query parameters' values, when every one is None, a str, or an int as
    Python writes one; False (and nothing set) when one needs FastAPI's validation."""
    given = request.query_params
    found: dict[str, Any] = {}
    for name, kind in optional:
        text = given.get(name)
        if text is None or kind is str:
            found[name] = text
        elif _canonical(text):
            found[name] = int(text)
        else:
            return False
    values.update(found)
    return True


def _canonical(text: str) -> bool:
    """Whether a text is an int as Python writes one, short of 19 digits."""
    return (
        0 < len(text) < 19 and text.isascii() and text.isdigit() and (text[0] != "0" or text == "0")
    )


def planned_handler(route: APIRoute, plan: Plan) -> Callable[[Request], Awaitable[Response]]:
    """The route's handler, as FastAPI's would run it for this route: the dependencies in
    order, then the path and query parameters (their errors, all at once, a
    RequestValidationError), then the endpoint, a coroutine on the event loop and a plain
    function in the thread pool."""
    dependant = route.dependant
    endpoint = route.endpoint
    steps, takes, request_name = plan
    path_params, query_params = dependant.path_params, dependant.query_params
    is_coroutine = inspect.iscoroutinefunction(endpoint)
    # Path parameters that are plain ints: a value written as Python writes an int is that int
    # (pydantic's answer too); anything else goes through FastAPI's validation. Its function
    # cost 4 us a parameter, most of it deciding whether the annotation is a sequence.
    ints = tuple(field.name for field in path_params)
    if not all(_plain_int(field) for field in path_params):
        ints = ()
    # Query parameters that are an optional str or int, None when absent: the text given
    # (its last value), or an int written as Python writes one; else FastAPI's validation.
    # Its function cost 6 us a parameter.
    optional = tuple((field.name, _optional_kind(field)) for field in query_params)
    if not all(kind is not None for _, kind in optional):
        optional = ()

    async def handler(request: Request) -> Response:
        solved: list[Any] = []
        for call, request_param, step_takes in steps:
            arguments = {name: solved[i] for name, i in step_takes}
            if request_param is not None:
                arguments[request_param] = request
            solved.append(await call(**arguments))
        values = {name: solved[i] for name, i in takes}
        errors: list[Any] = []
        if ints and all(_canonical(request.path_params[name]) for name in ints):
            for name in ints:
                values[name] = int(request.path_params[name])
        elif path_params:
            found, errors = request_params_to_args(path_params, request.path_params)
            values.update(found)
        if query_params and not (optional and _optional_values(request, optional, values)):
            found, query_errors = request_params_to_args(query_params, request.query_params)
            values.update(found)
            errors += query_errors
        if errors:
            raise RequestValidationError(errors, body=None)
        if request_name is not None:
            values[request_name] = request
        if is_coroutine:
            response: Response = await endpoint(**values)
        else:
            response = await run_in_threadpool(endpoint, **values)
        return response

    return handler


# The routes given a planned handler (their ids: a route compares by its fields; the routes
# are the routers', which live as long as the process).
PLANNED: set[int] = set()


def plan_route(route: APIRoute) -> None:
    """Give a route the planned handler when its dependencies allow one."""
    plan = make_plan(route)
    if plan is not None:
        route.app = request_response(planned_handler(route, plan))
        PLANNED.add(id(route))


# One route is analysed at a time: a route read by two threads at once is analysed once.
_ANALYSING = threading.RLock()


class DeferredRoute(APIRoute):
    """An APIRoute analysed on its first use rather than where it is declared.

    FastAPI analyses a route as it is declared: its endpoint's signature and each of its
    dependencies' (again for every route that shares them), a pydantic adapter for each path
    and query parameter, its response model, its handler. For the application's hundred routes
    that was about 40 ms of every start's CPU, for routes that most runs never call, or call
    later (bench/README finding 89). A DeferredRoute keeps its arguments and sets at once only
    what matching a request needs, as APIRoute sets it: its path, endpoint, name, methods,
    compiled pattern and inclusion in the schema. The first read of anything else (its
    handler, at its first request; its parameters and models, when the OpenAPI definition is
    written) runs APIRoute's own constructor on it with those arguments, then gives it the
    planned handler where its dependencies allow one (``plan_route``): from then on it is the
    route FastAPI would have made. A route declared wrongly raises FastAPI's error at each use,
    and when the definition is written, which the tests do for every route."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        self._arguments = (path, endpoint, options)
        self.path, self.endpoint = path, endpoint
        name = options.get("name")
        self.name = get_name(endpoint) if name is None else name
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.methods = {method.upper() for method in options.get("methods") or ["GET"]}
        self.include_in_schema = options.get("include_in_schema", True)

    def __getattr__(self, name: str) -> Any:
        # Only an attribute the route does not have yet gets here.
        with _ANALYSING:
            arguments = self.__dict__.pop("_arguments", None)
            if arguments is not None:
                path, endpoint, options = arguments
                try:
                    APIRoute.__init__(self, path, endpoint, **options)
                except BaseException:
                    self._arguments = arguments
                    raise
                plan_route(self)
        return object.__getattribute__(self, name)


# Route classes whose match is their path_regex on the request's path: a path they match
# begins with the literal text of their path format up to its first parameter.
PATH_MATCHED = {Route.matches, WebSocketRoute.matches, Mount.matches, APIRoute.matches}


class Candidates:
    """A router as its own dispatch sees it, with only some of its routes: everything but
    ``routes`` is the router's own."""

    def __init__(self, router: Router, routes: list[BaseRoute]) -> None:
        self.router = router
        self.routes = routes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.router, name)


class RouteIndex:
    """A router's dispatch, given only the routes that could match the request's path.

    Starlette's router compares a request with each of its routes in turn (every route's
    regular expression, 105 of them here; a task's predictions are the 58th: 12-17 % of that
    request's time on the event loop). A route matched by its path pattern can only match a
    path that begins with the pattern's literal text up to its first parameter: the route is
    found under that text cut after its last ``/`` (a pattern without parameters under its
    whole path, which its expression matches alone or before a final newline), and a path
    looks up each of its prefixes that ends in ``/``. The other routes (of a class that
    matches otherwise) are candidates for every path. The router's own dispatch then runs on
    the candidates, in the router's order: the same route, the same 405 for a route that
    matches with another method, the same 404, as a scan of every route. The index follows
    the routes added to the router; a request under a root path, where a route matches the
    path without it, is compared with every route.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.scan = router.app
        self.dispatch: Callable[..., Awaitable[None]] = type(router).app
        self.indexed: list[BaseRoute] | None = None
        self.count = 0
        self.prefixes: dict[str, list[tuple[int, BaseRoute]]] = {}
        self.paths: dict[str, list[tuple[int, BaseRoute]]] = {}
        self.always: list[tuple[int, BaseRoute]] = []
        self.views: dict[tuple[str, ...], Candidates] = {}

    def index(self) -> None:
        routes = self.router.routes
        self.prefixes, self.paths, self.always, self.views = {}, {}, [], {}
        for position, route in enumerate(routes):
            path_format = getattr(route, "path_format", None)
            if type(route).matches not in PATH_MATCHED or not (
                isinstance(path_format, str) and path_format.startswith("/")
            ):
                self.always.append((position, route))
            elif "{" not in path_format:
                self.paths.setdefault(path_format, []).append((position, route))
            else:
                literal = path_format.split("{", 1)[0]
                prefix = literal[: literal.rindex("/") + 1]
                self.prefixes.setdefault(prefix, []).append((position, route))
        self.indexed, self.count = routes, len(routes)

    def candidates(self, path: str) -> Candidates:
        routes = self.router.routes
        if routes is not self.indexed or len(routes) != self.count:
            self.index()
        prefixes, paths = self.prefixes, self.paths
        found = []
        end = path.find("/") + 1
        while end:
            head = path[:end]
            if head in prefixes:
                found.append(head)
            end = path.find("/", end) + 1
        # Last, the whole path when a route's pattern is that path alone ("" when none is).
        if path in paths:
            found.append(path)
        elif path[-1:] == "\n" and path[:-1] in paths:
            found.append(path[:-1])
        else:
            found.append("")
        key = tuple(found)
        view = self.views.get(key)
        if view is None:
            chosen = self.always + [item for text in key[:-1] for item in prefixes[text]]
            chosen += paths.get(key[-1], [])
            view = Candidates(self.router, [route for _, route in sorted(chosen, key=_first)])
            self.views[key] = view
        return view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope.get("root_path"):
            await self.scan(scope, receive, send)
            return
        scope.setdefault("router", self.router)
        await self.dispatch(self.candidates(scope["path"]), scope, receive, send)


def _first(item: tuple[int, BaseRoute]) -> int:
    return item[0]


def index_routes(router: Router) -> None:
    """Dispatch a router's requests by a RouteIndex (a router without middleware of its own and
    without redirection of slashes, whose redirect would look for the other path's routes)."""
    if router.middleware_stack == router.app and not router.redirect_slashes:
        router.middleware_stack = RouteIndex(router)


def _annotation_is_imported_pydantic_v1(annotation: Any) -> bool:
    """FastAPI's refusal of pydantic.v1 models, without importing pydantic.v1 to make it.

    For each parameter of each route, FastAPI checks that its annotation is no pydantic.v1
    model, importing ``pydantic.v1`` to do so: 13 ms of a start's CPU for a module nothing
    else needs. No such model exists unless ``pydantic.v1`` was imported, so until then the
    answer is no; once it was, FastAPI's own check answers."""
    return "pydantic.v1" in sys.modules and annotation_is_pydantic_v1(annotation)


# Routes are declared as their modules are imported (app.api, app.control), each of which
# imports this module first.
fastapi.utils.annotation_is_pydantic_v1 = _annotation_is_imported_pydantic_v1  # type: ignore[attr-defined]
