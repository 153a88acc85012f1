"""What a start imports: modules the server does not need are left out of it."""

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
