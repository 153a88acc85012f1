"""/openapi.json: Label Studio's own definition of each operation served (its OpenAPI 3.0
``nullable`` written as 3.1 says it), the schemas they name, and the control plane's operations
answering 400 in Label Studio's envelope, never FastAPI's 422."""

import copy
from importlib import metadata

import pytest
from conftest import contract_document
from fastapi import FastAPI
from pydantic import BaseModel

from app.openapi import as_openapi_31, build_definition, served_operations

CONTRACT = contract_document()


@pytest.mark.parametrize(
    ("schema", "written"),
    [
        ({"type": "string", "nullable": True, "maxLength": 5},
         {"type": ["string", "null"], "maxLength": 5}),
        ({"type": "string", "enum": ["a", "b"], "nullable": True},
         {"type": ["string", "null"], "enum": ["a", "b", None]}),
        # Without a type of its own (a reference, an allOf), the schema gets a null branch and
        # keeps what documents it beside the branches.
        ({"allOf": [{"$ref": "#/components/schemas/E"}], "nullable": True, "description": "d",
          "default": "x", "readOnly": True, "writeOnly": False, "title": "t", "example": "e"},
         {"anyOf": [{"allOf": [{"$ref": "#/components/schemas/E"}]}, {"type": "null"}],
          "description": "d", "default": "x", "readOnly": True, "writeOnly": False, "title": "t",
          "example": "e"}),
        ({"nullable": True}, {"anyOf": [{}, {"type": "null"}]}),
        ({"type": "integer", "nullable": False}, {"type": "integer"}),
        ({"type": "integer"}, {"type": "integer"}),
        # Nested schemas, in objects and in lists, are rewritten too.
        ({"properties": {"a": {"type": "integer", "nullable": True}},
          "oneOf": [{"type": "boolean", "nullable": True}, "text", 3]},
         {"properties": {"a": {"type": ["integer", "null"]}},
          "oneOf": [{"type": ["boolean", "null"]}, "text", 3]}),
    ],
)  # fmt: skip
def test_nullable_schemas_are_written_as_openapi_31_says_them(schema, written):
    before = copy.deepcopy(schema)
    assert as_openapi_31(schema) == written
    assert schema == before


class Thing(BaseModel):
    name: str


def small_app(extra_path: str | None = None) -> FastAPI:
    app = FastAPI(title="Emulator", version="9")

    @app.get("/api/version/")
    def version() -> dict:
        return {}

    @app.head("/api/version/")
    def version_head() -> None:
        return None

    @app.post("/_emulator/thing", tags=["Emulator control"])
    def thing(body: Thing) -> dict:
        return {}

    if extra_path is not None:

        @app.get(extra_path)
        def extra() -> dict:
            return {}

    return app


def test_label_studio_operations_come_from_its_definition_and_the_control_plane_from_fastapi():
    app = small_app()
    assert served_operations(app) == {("/api/version/", "get")}

    document = build_definition(app)

    assert (document["openapi"], document["info"]) == (
        "3.1.0",
        {"title": "Emulator", "version": "9"},
    )
    assert list(document["paths"]) == ["/api/version/", "/_emulator/thing"]
    assert document["paths"]["/api/version/"] == CONTRACT["paths"]["/api/version/"]
    # The control plane's bad input is a 400 in Label Studio's envelope: no 422 is documented.
    assert list(document["paths"]["/_emulator/thing"]["post"]["responses"]) == ["200"]
    # The schemas named, and those they name in turn; none of FastAPI's validation errors.
    schemas = document["components"]["schemas"]
    assert set(schemas) == {"Thing", "VersionResponse", "EditionEnum"}
    assert schemas["EditionEnum"] == CONTRACT["components"]["schemas"]["EditionEnum"]
    assert document["components"]["securitySchemes"] == CONTRACT["components"]["securitySchemes"]


def test_an_operation_served_that_label_studio_does_not_define_is_an_error():
    with pytest.raises(LookupError) as refused:
        build_definition(small_app("/api/not-in-label-studio/"))
    assert str(refused.value) == "GET /api/not-in-label-studio/ is served but not in openapi.yaml"


def test_the_served_definition_is_label_studios_for_each_api_operation(api):
    document = api.get("/openapi.json").json()
    # The title Swagger UI and ReDoc show, and the installed package's version.
    assert document["info"] == {
        "title": "Label Studio Enterprise Prompts API (lse-emulator)",
        "version": metadata.version("lse-emulator"),
    }
    api_paths = {path: item for path, item in document["paths"].items() if path.startswith("/api/")}
    for path, item in api_paths.items():
        for method, operation in item.items():
            assert operation == as_openapi_31(CONTRACT["paths"][path][method]), (path, method)
    assert {"/api/current-user/whoami", "/api/prompts/", "/api/version/"} <= set(api_paths)
    whoami = document["components"]["schemas"]["WhoAmIUser"]["properties"]
    assert whoami["avatar"] == {"type": ["string", "null"], "readOnly": True}
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])
