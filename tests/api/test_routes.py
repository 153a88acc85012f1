"""The application serves its routers' routes as they were declared, each with the
application's JSON encoding."""

from fastapi.routing import APIRoute

from app import responses
from app.api import connections, prompts, tasks
from app.config import Settings
from app.control import api as control
from app.control import console
from app.main import create_app


def test_the_routers_routes_are_served_as_declared_not_analysed_again():
    # An included router would be analysed again, route by route, on the first request.
    served = create_app(Settings()).router.routes
    for router in (connections.router, prompts.router, tasks.router, control.router,
                   console.router, console.page):  # fmt: skip
        assert router.routes
        assert all(any(route is other for other in served) for route in router.routes)


def test_every_route_answers_with_the_applications_json_response():
    routes = [r for r in create_app(Settings()).routes if isinstance(r, APIRoute)]
    assert len(routes) > 100
    assert {route.response_class for route in routes} == {responses.JSONResponse}
