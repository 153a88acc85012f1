"""The naive insert app: what a first FastAPI + SQLModel version of the create endpoint does.

It checks the Authorization header against a constant, validates the create body with the
same pydantic model of ModelRunRequestRequest's fields as the floor (bench/floor_app.py), then
inserts one row per request into a table shaped like the emulator's ``model_run`` through a
SQLModel Session (one commit per request) and answers the stored row (201). The endpoint is a
plain ``def`` (FastAPI runs it in its thread pool), as the SQLModel tutorial writes it. On SQLite
the journal is WAL with synchronous=NORMAL, the emulator's durability settings, so that the
comparison is of the applications' work rather than of the disk's. Served by uvicorn in one
process on a pre-bound socket, as the floor is.

    python bench/naive_app.py --database-url URL --port 0 --ready-file /tmp/naive.ready
"""

import argparse
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from floor_app import TOKEN, RunRequest, serve
from sqlalchemy import JSON, String, event
from sqlmodel import Field, Session, SQLModel, create_engine

RUNS = "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"


class NaiveRun(SQLModel, table=True):
    """The columns of the emulator's model_run, without its foreign keys."""

    __tablename__ = "naive_run"

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int | None = None
    project_id: int = Field(index=True)
    prompt_id: int
    version_id: int = Field(index=True)
    created_by_id: int
    status: str = Field(default="Pending", sa_type=String)
    project_subset: str = Field(default="HasGT", sa_type=String)
    sample_subset_size: int | None = None
    filters_json: Any = Field(default=None, sa_type=JSON)
    job_id: str | None = Field(default=None, max_length=255)
    only_missing_predictions: bool = False
    task_ids: Any = Field(default=None, sa_type=JSON)
    source_model_run_id: int | None = None
    total_tasks: int | None = 0
    total_predictions: int | None = 0
    total_correct_predictions: int | None = 0
    created_at: datetime
    triggered_at: datetime | None = None
    completed_at: datetime | None = None
    predictions_updated_at: datetime | None = None
    total_failed: int = 0
    next_due_at: datetime | None = None
    outcome: str | None = None
    inference_mode: str = "simulated"


def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
    if authorization != TOKEN:
        raise HTTPException(401, "Invalid token.")


def create_app(database_url: str) -> FastAPI:
    connect_args = {"check_same_thread": False} if database_url.startswith("sqlite") else {}
    engine = create_engine(database_url, connect_args=connect_args)
    if database_url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _journal(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    SQLModel.metadata.create_all(engine)

    def get_session() -> Any:
        with Session(engine) as session:
            yield session

    app = FastAPI(title="naive")

    @app.post(RUNS, status_code=201)
    def create(
        prompt_id: int,
        version_id: int,
        body: RunRequest,
        _: Annotated[None, Depends(authorized)],
        session: Annotated[Session, Depends(get_session)],
    ) -> JSONResponse:
        run = NaiveRun(
            organization_id=body.organization or 1,
            project_id=body.project,
            prompt_id=prompt_id,
            version_id=version_id,
            created_by_id=1,
            project_subset=body.project_subset.value,
            sample_subset_size=body.sample_subset_size,
            filters_json=body.filters_json,
            job_id=body.job_id,
            only_missing_predictions=body.only_missing_predictions,
            total_tasks=body.total_tasks or 0,
            total_predictions=body.total_predictions or 0,
            total_correct_predictions=body.total_correct_predictions or 0,
            predictions_updated_at=body.predictions_updated_at,
            created_at=datetime.now(UTC),
        )
        session.add(run)
        session.commit()
        session.refresh(run)
        return JSONResponse(run.model_dump(mode="json"), status_code=201)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--ready-file")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    serve(
        create_app(args.database_url),
        "naive app",
        args.host,
        args.port,
        args.ready_file,
        args.log_level,
    )


if __name__ == "__main__":
    main()
