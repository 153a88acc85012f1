"""Which tasks a run covers, decided in SQL so that large projects never load into Python."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, true
from sqlalchemy.orm import Mapped
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import Session, col, select

from app.errors import ValidationFailed
from app.models import Prediction, ProjectSubset, ProjectTaskCount, Task

MAX_FILTER_ITEMS = 100

NUMBER_OPERATORS: dict[str, Callable[[Mapped[int | None], int], ColumnElement[bool]]] = {
    "equal": lambda c, v: c == v,
    "not_equal": lambda c, v: c != v,
    "less": lambda c, v: c < v,
    "greater": lambda c, v: c > v,
    "less_or_equal": lambda c, v: c <= v,
    "greater_or_equal": lambda c, v: c >= v,
}


class FilterError(ValidationFailed):
    """A Data Manager filter the emulator cannot apply: a 400 naming filters_json."""

    def __init__(self, message: str) -> None:
        super().__init__({"filters_json": [message]})
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


def filter_condition(filters: Any) -> ColumnElement[bool]:
    """A SQL condition from a Data Manager filter group: {"conjunction", "items": [...]}."""
    if not isinstance(filters, dict):
        raise FilterError(
            'The Custom subset needs filters_json: {"conjunction": ..., "items": [...]}.'
        )
    conjunction = filters.get("conjunction", "and")
    if conjunction not in ("and", "or"):
        raise FilterError(f'Unsupported conjunction "{conjunction}": use "and" or "or".')
    items = filters.get("items")
    if not isinstance(items, list) or not items:
        raise FilterError("filters_json.items must be a non-empty list of filters.")
    if len(items) > MAX_FILTER_ITEMS:
        raise FilterError(f"filters_json.items holds more than {MAX_FILTER_ITEMS} filters.")
    conditions = [_item_condition(index, item) for index, item in enumerate(items)]
    return and_(*conditions) if conjunction == "and" else or_(*conditions)


def _item_condition(index: int, item: Any) -> ColumnElement[bool]:
    where = f"filters_json.items[{index}]"
    if not isinstance(item, dict):
        raise FilterError(f"{where} must be an object.")
    name, operator, value = item.get("filter"), item.get("operator"), item.get("value")
    if name == "filter:tasks:id":
        return _number_condition(where, col(Task.id), operator, value)
    if name == "filter:tasks:ground_truth":
        if operator not in ("equal", "not_equal") or not isinstance(value, bool):
            raise FilterError(f"{where}: ground_truth supports equal/not_equal with true or false.")
        return col(Task.has_ground_truth) == (value if operator == "equal" else not value)
    raise FilterError(
        f'{where}: the filter "{name}" cannot be applied by the emulator; '
        "supported: filter:tasks:id, filter:tasks:ground_truth."
    )


def _number(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise FilterError(f"{where}: the value must be a number.")
    if not -(2**63) <= value < 2**63:
        raise FilterError(f"{where}: the value is out of range.")
    return int(value)


def _number_condition(
    where: str, column: Mapped[int | None], operator: Any, value: Any
) -> ColumnElement[bool]:
    if isinstance(operator, str) and operator in NUMBER_OPERATORS:  # a list is unhashable
        return NUMBER_OPERATORS[operator](column, _number(where, value))
    if operator in ("in", "not_in"):
        if not isinstance(value, dict) or "min" not in value or "max" not in value:
            raise FilterError(f'{where}: "{operator}" needs a value {{"min": ..., "max": ...}}.')
        inside = column.between(_number(where, value["min"]), _number(where, value["max"]))
        return inside if operator == "in" else not_(inside)
    raise FilterError(
        f'{where}: unsupported operator "{operator}"; supported: '
        + ", ".join([*NUMBER_OPERATORS, "in", "not_in"])
        + "."
    )


def subset_query(
    project_id: int | BindParameter[int],
    subset: str,
    *,
    sample_size: int | BindParameter[int],
    filters: Any = None,
    missing_for_version: int | BindParameter[int] | None = None,
    task_ids: list[int] | None = None,
) -> Select[int | None]:
    """SELECT task ids of a project subset; with missing_for_version, only tasks without a
    successful prediction of that version; with task_ids (a re-evaluation), only those tasks.
    The project, the sample's size and the version may be bound parameters."""
    condition = col(Task.project_id) == project_id
    if task_ids is not None:
        condition = and_(condition, col(Task.id).in_(task_ids))
    if subset == ProjectSubset.HAS_GT:
        condition = and_(condition, col(Task.has_ground_truth) == true())
    elif subset == ProjectSubset.CUSTOM:
        condition = and_(condition, filter_condition(filters))
    query: Select[int | None] = select(col(Task.id)).where(condition)
    if subset == ProjectSubset.SAMPLE:
        # "The first 20 tasks in the project" (Label Studio's Prompts guide): the first
        # sample_size tasks by id.
        query = query.order_by(col(Task.id)).limit(sample_size)
    if missing_for_version is not None:
        inner = query.subquery()
        already = exists().where(
            col(Prediction.task_id) == inner.c.id, col(Prediction.version_id) == missing_for_version
        )
        query = select(inner.c.id).where(not_(already))
    return query


def count(session: Session, query: Select[int | None]) -> int:
    return session.exec(select(func.count()).select_from(query.subquery())).one()


def subset_counts(session: Session, project_id: int, sample_size: int) -> list[dict[str, Any]]:
    """The project's subsets with their sizes, as /api/projects/{id}/subsets lists them: kept
    by triggers on ``task`` (revisions 0009 and 0011), never counted here."""
    counted = session.get(ProjectTaskCount, project_id)
    total, with_gt = (counted.tasks, counted.ground_truth) if counted is not None else (0, 0)
    return [
        {"subset": ProjectSubset.ALL.value, "count": total},
        {"subset": ProjectSubset.HAS_GT.value, "count": int(with_gt)},
        {"subset": ProjectSubset.SAMPLE.value, "count": min(sample_size, total)},
    ]
