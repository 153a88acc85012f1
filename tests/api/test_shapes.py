"""Every object an endpoint answers has exactly the fields the contract's schema for that answer
names: none renamed, none missing, none added."""

import pytest
from conftest import contract_document

CONTRACT = contract_document()
SCHEMAS = CONTRACT["components"]["schemas"]


def fields(schema: dict) -> set[str]:
    """The property names of a schema, through $ref and allOf."""
    if "$ref" in schema:
        return fields(SCHEMAS[schema["$ref"].split("/")[-1]])
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= fields(part)
    return names


def answer_schema(path: str) -> dict:
    responses = CONTRACT["paths"][path]["get"]["responses"]
    return responses["200"]["content"]["application/json"]["schema"]


# (the contract's path, the address of a seeded object on it)
OBJECTS = [
    ("/api/projects/{id}/", "/api/projects/1/"),
    ("/api/prompts/{id}/", "/api/prompts/1/"),
    ("/api/prompts/{prompt_id}/versions/{version_id}", "/api/prompts/1/versions/1"),
    ("/api/current-user/whoami", "/api/current-user/whoami"),
    ("/api/version/", "/api/version/"),
]


@pytest.mark.parametrize(("path", "url"), OBJECTS, ids=[p for p, _ in OBJECTS])
def test_an_object_has_exactly_the_fields_of_its_schema(api, path, url):
    response = api.get(url)
    assert response.status_code == 200, response.text
    assert set(response.json()) == fields(answer_schema(path))


@pytest.mark.parametrize(
    ("path", "url"),
    [("/api/prompts/", "/api/prompts/"), ("/api/prompts/{prompt_id}/versions",
                                          "/api/prompts/1/versions")],
)  # fmt: skip
def test_each_item_of_a_list_has_exactly_the_fields_of_its_schema(api, path, url):
    schema, items = answer_schema(path), api.get(url).json()
    if "items" not in schema:  # a page: its results are the list
        schema = SCHEMAS[schema["$ref"].split("/")[-1]]["properties"]["results"]
        items = items["results"]
    assert items
    expected = fields(schema["items"])
    assert [set(item) for item in items] == [expected] * len(items)
