"""DRF's PageNumberPagination: ``page`` and ``page_size`` query parameters, answered as
``{count, next, previous, results}`` with absolute links; a page past the end is a 404."""

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.sql import Select
from sqlmodel import Session

from app.errors import APIError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # Label Studio's paginators cap page_size; a larger one is cut to this
Render = Callable[[Sequence[Any]], list[dict[str, Any]]]


def _positive(value: str | None, default: int) -> int | None:
    """A positive integer from the query, as DRF reads it (anything else: the default)."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None


class Page:
    """Which page of ``count`` items the query parameters ask for, and the links around it.

    ``url`` is the request's absolute URL without its query; ``params`` its query parameters."""

    def __init__(self, count: int, url: str, params: dict[str, str], default_size: int) -> None:
        size = _positive(params.get("page_size"), default_size) or default_size
        self.size = min(size, MAX_PAGE_SIZE)
        pages = max(1, -(-count // self.size))
        raw = params.get("page", "1")
        number = pages if raw == "last" else _positive(raw, 1)
        if number is None or number > pages:
            raise APIError(404, "Invalid page.")
        self.number, self.pages, self.count = number, pages, count
        self.url, self.params = url, params

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def _link(self, number: int) -> str | None:
        if not 1 <= number <= self.pages or number == self.number:
            return None
        query = {**self.params, "page": str(number)}
        if number == 1:
            query.pop("page")
        encoded = urlencode(query)
        return f"{self.url}?{encoded}" if encoded else self.url

    def answer(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "count": self.count,
            "next": self._link(self.number + 1),
            "previous": self._link(self.number - 1),
            "results": results,
        }


def paginate(
    session: Session,
    query: Select[Any],
    url: str,
    params: dict[str, str],
    render: Render,
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """One page of ``query`` (already ordered) with its count and the links around it;
    ``render`` turns the page's rows into JSON objects."""
    count = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = Page(count, url, params, default_page_size)
    # Entities for a query of one model, rows otherwise (as session.exec answers them).
    rows = session.exec(query.limit(page.size).offset(page.offset)).all()  # type: ignore[call-overload]
    return page.answer(render(rows))


def paginate_list(
    items: Sequence[Any],
    url: str,
    params: dict[str, str],
    render: Render,
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """``paginate`` over items already computed in memory (filters SQL cannot express)."""
    page = Page(len(items), url, params, default_page_size)
    return page.answer(render(items[page.offset : page.offset + page.size]))
