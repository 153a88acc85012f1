"""What a start imports: modules the server does not need are left out of it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.exceptions import PydanticV1NotSupportedError

import app.routing  # noqa: F401  (as every module that declares routes does)

ROOT = Path(__file__).resolve().parents[2]


def test_a_start_does_not_import_pydantic_v1(tmp_path: Path) -> None:
    code = f"""
import sys
import app.cli, app.main
from app.config import Settings
app.main.create_app(Settings(database_url="sqlite:///{tmp_path / "db.sqlite"}"))
assert "fastapi" in sys.modules and "pydantic" in sys.modules
print("pydantic.v1" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False"


def test_a_pydantic_v1_model_is_still_refused_once_pydantic_v1_is_imported() -> None:
    from pydantic import v1

    class Old(v1.BaseModel):
        name: str

    def endpoint(item: Old) -> None:
        pass

    with pytest.raises(PydanticV1NotSupportedError):
        APIRouter().post("/old")(endpoint)
    with pytest.raises(PydanticV1NotSupportedError):
        APIRouter().get("/old", response_model=list[Old])(endpoint)


def test_a_start_builds_no_validator_it_does_not_use(tmp_path: Path) -> None:
    """The seed document's and the control plane's models (app.seed.StrictModel) and the
    tables (app.models.TableModel) are built on their first validation: a start with the
    demo's data, and a first request, build none of them."""
    code = f"""
import json
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app
from app.models import TableModel
from app.seed import StrictModel

def built():
    found, stack = [], [*StrictModel.__subclasses__(), *TableModel.__subclasses__()]
    while stack:
        model = stack.pop()
        stack += model.__subclasses__()
        if model.__pydantic_complete__:
            found.append(model.__name__)
    return sorted(found)

settings = Settings(database_url="sqlite:///{tmp_path / "db.sqlite"}")
with TestClient(create_app(settings)) as client:
    assert client.get("/_emulator/health").status_code == 200
    headers = {{"Authorization": "Token acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"}}
    assert client.get("/api/prompts/", headers=headers).status_code == 200
    at_start = built()
    frozen = client.post("/_emulator/clock", json={{"freeze": True}}).status_code
    refused = client.post("/_emulator/clock", json={{"freeze": True, "other": 1}}).status_code
print(json.dumps([at_start, frozen, refused]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    at_start, frozen, refused = json.loads(done.stdout)
    assert at_start == []
    # Built when first used, they validate as before.
    assert (frozen, refused) == (200, 400)


def test_every_table_derives_from_table_model() -> None:
    """So that a new table's validator waits for its first use too."""
    from sqlmodel import SQLModel

    from app.models import TableModel

    derived = {model.__table__.name for model in TableModel.__subclasses__()}
    assert derived == set(SQLModel.metadata.tables) and len(derived) > 20
