"""Model provider connections of an organization: list, create, read, change, delete.

The secrets a connection holds (api_key, auth_token, google_application_credentials) are
write-only: stored, never answered (``app.render.connection`` leaves them out)."""

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from app.db import get_by_id, mark_seed_changed
from app.errors import NotFound
from app.lifecycle.clock import Clock
from app.lookups import ordering_terms
from app.models import ModelProviderConnection, PromptVersion, User
from app.validation import BooleanField, CharField, ChoiceField, Field, FloatField, validate

PROVIDERS = ["OpenAI", "AzureOpenAI", "AzureAIFoundry", "VertexAI", "Gemini", "Anthropic", "Custom"]
SCOPES = ["Organization", "User", "Model"]
SECRETS = ("api_key", "auth_token", "google_application_credentials")
ORDERING: dict[str, Mapped[Any]] = {
    "id": col(ModelProviderConnection.id),
    "created_at": col(ModelProviderConnection.created_at),
    "updated_at": col(ModelProviderConnection.updated_at),
    "provider": col(ModelProviderConnection.provider),
    "scope": col(ModelProviderConnection.scope),
}


def _text(max_length: int | None = None) -> CharField:
    return CharField(max_length=max_length, allow_blank=True, allow_null=True)


def connection_fields() -> dict[str, Field]:
    """ModelProviderConnectionRequest with DRF's rules (no field is required: omitted ones
    keep their value, or the model's default on create)."""
    return {
        "provider": ChoiceField(choices=PROVIDERS),
        "scope": ChoiceField(choices=SCOPES),
        "api_key": _text(),
        "auth_token": _text(),
        "google_application_credentials": _text(),
        "deployment_name": _text(512),
        "endpoint": _text(512),
        "google_project_id": _text(255),
        "google_location": _text(255),
        "cached_available_models": _text(4096),
        "is_internal": BooleanField(allow_null=True),
        "budget_alert_threshold": FloatField(allow_null=True),
    }


def visible(user: User) -> Any:
    """The connections a user sees: their organization's, except internal ones and other
    users' User-scoped ones."""
    return (
        (col(ModelProviderConnection.organization_id) == user.organization_id)
        & (col(ModelProviderConnection.is_internal).is_not(True))
        & (
            (col(ModelProviderConnection.scope) != "User")
            | (col(ModelProviderConnection.created_by_id) == user.id)
        )
    )


def list_connections(
    session: Session, user: User, ordering: str | None
) -> list[ModelProviderConnection]:
    query = (
        select(ModelProviderConnection)
        .where(visible(user))
        .order_by(*ordering_terms(ordering, ORDERING), col(ModelProviderConnection.id))
    )
    return list(session.exec(query))


def get_connection(session: Session, user: User, connection_id: int) -> ModelProviderConnection:
    """A connection the user sees, or Label Studio's 404."""
    found = get_by_id(session, ModelProviderConnection, connection_id)
    if (
        found is None
        or not session.exec(
            select(ModelProviderConnection.id).where(
                ModelProviderConnection.id == found.id, visible(user)
            )
        ).first()
    ):
        raise NotFound("ModelProviderConnection")
    return found


def create_connection(
    session: Session, user: User, data: Any, form: bool, clock: Clock
) -> ModelProviderConnection:
    values = validate(connection_fields(), data, form=form)
    now = clock.now(session)
    connection = ModelProviderConnection(
        organization_id=user.organization_id,
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
        **values,
    )
    session.add(connection)
    mark_seed_changed(session)
    session.commit()
    return connection


def update_connection(
    session: Session, user: User, connection_id: int, data: Any, form: bool, clock: Clock
) -> ModelProviderConnection:
    """PATCH and PUT alike: no field of the request is required, so the fields sent change."""
    connection = get_connection(session, user, connection_id)
    values = validate(connection_fields(), data, form=form)
    for key, value in values.items():
        setattr(connection, key, value)
    connection.updated_at = clock.now(session)
    session.add(connection)
    mark_seed_changed(session)
    session.commit()
    return connection


def delete_connection(session: Session, user: User, connection_id: int) -> None:
    """Delete a connection; versions that used it keep running, with no connection."""
    connection = get_connection(session, user, connection_id)
    session.execute(
        update(PromptVersion)
        .where(col(PromptVersion.model_provider_connection_id) == connection.id)
        .values(model_provider_connection_id=None)
    )
    session.delete(connection)
    mark_seed_changed(session)
    session.commit()
