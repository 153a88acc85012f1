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


def _positive(value: str | None, default: int) -> int | None:
    """A positive integer from the query, as DRF reads it (anything else: the default)."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None


def paginate(
    session: Session,
    query: Select[Any],
    url: str,
    params: dict[str, str],
    render: Callable[[Sequence[Any]], list[dict[str, Any]]],
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """One page of ``query`` (already ordered) with its count and the links around it.

    ``url`` is the request's absolute URL without its query; ``params`` its query parameters;
    ``render`` turns the page's rows into JSON objects."""
    size = _positive(params.get("page_size"), default_page_size) or default_page_size
    size = min(size, MAX_PAGE_SIZE)
    raw_page = params.get("page", "1")
    page = 10**9 if raw_page == "last" else _positive(raw_page, 1)
    count = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    pages = max(1, -(-count // size))
    if raw_page == "last":
        page = pages
    if page is None or page > pages:
        raise APIError(404, "Invalid page.")
    # Entities for a query of one model, rows otherwise (as session.exec answers them).
    rows = session.exec(query.limit(size).offset((page - 1) * size)).all()  # type: ignore[call-overload]

    def link(number: int) -> str | None:
        if not 1 <= number <= pages or number == page:
            return None
        query_string = {**params, "page": str(number)}
        if number == 1:
            query_string.pop("page")
        encoded = urlencode(query_string)
        return f"{url}?{encoded}" if encoded else url

    return {
        "count": count,
        "next": link(page + 1) if page < pages else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": render(rows),
    }


def paginate_list(
    items: Sequence[Any],
    url: str,
    params: dict[str, str],
    render: Callable[[Sequence[Any]], list[dict[str, Any]]],
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """``paginate`` over items already computed in memory (filters SQL cannot express)."""
    size = min(_positive(params.get("page_size"), default_page_size) or default_page_size,
               MAX_PAGE_SIZE)  # fmt: skip
    raw_page = params.get("page", "1")
    count = len(items)
    pages = max(1, -(-count // size))
    page = pages if raw_page == "last" else _positive(raw_page, 1)
    if page is None or page > pages:
        raise APIError(404, "Invalid page.")

    def link(number: int) -> str | None:
        query_string = {**params, "page": str(number)}
        if number == 1:
            query_string.pop("page")
        encoded = urlencode(query_string)
        return f"{url}?{encoded}" if encoded else url

    return {
        "count": count,
        "next": link(page + 1) if page < pages else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": render(items[(page - 1) * size : page * size]),
    }
