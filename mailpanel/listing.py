"""Lists that grow with the estate (servers, domains): a page of rows, a search, a few orders.

Every list costs the same two queries whatever its length (a count and one page), so an
estate of thousands of domains renders as fast as one of ten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Model, OrderBy, Q, QuerySet
from django.http import HttpRequest, QueryDict

from mailpanel.names import domain_to_ascii

PER_PAGE = 100
# No name is longer; a longer query cannot match, so it is cut rather than refused.
MAX_QUERY = 253

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Sort:
    label: str
    order: Sequence[str | OrderBy]


@dataclass(frozen=True)
class Listing(Generic[M]):
    """What a list page shows: its page of rows, the search and order it was asked for."""

    page: Page[M]
    q: str
    sort: str
    sorts: Mapping[str, Sort]

    @property
    def params(self) -> QueryDict:
        """The search and order as a query string, for page links (`{% querystring %}`)."""
        params = QueryDict(mutable=True)
        if self.q:
            params["q"] = self.q
        if self.sort != next(iter(self.sorts)):
            params["sort"] = self.sort
        return params

    @property
    def choices(self) -> list[tuple[str, str]]:
        return [(key, sort.label) for key, sort in self.sorts.items()]


def search_terms(query: str) -> set[str]:
    """What to look for in stored names: the text as typed and, for an IDN written in
    Unicode, its A-label form (names are stored as A-labels)."""
    terms = {query}
    try:
        terms.add(domain_to_ascii(query))
    except ValidationError:
        # A single label ("bücher") is no domain name, but is how people search for one.
        with suppress(UnicodeError):
            terms.add(query.lower().encode("idna").decode("ascii"))
    return terms


def list_page(
    request: HttpRequest, rows: QuerySet[M], sorts: Mapping[str, Sort], field: str = "name"
) -> Listing[M]:
    """Filter ``rows`` by ``q`` (case-insensitive, in ``field``), order them by ``sort`` (the
    first of ``sorts`` unless a known key is asked for) and cut out the page asked for."""
    query = request.GET.get("q", "").replace("\x00", "").strip()[:MAX_QUERY]
    sort = request.GET.get("sort", "")
    if sort not in sorts:
        sort = next(iter(sorts))
    if query:
        match = Q()
        for term in search_terms(query):
            match |= Q(**{f"{field}__icontains": term})
        rows = rows.filter(match)
    rows = rows.order_by(*sorts[sort].order)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return Listing(page=page, q=query, sort=sort, sorts=sorts)
