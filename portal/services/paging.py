"""One page of a list that is not a database query (the watch cache's apps, the registry's
repositories, a folder of a volume), shaped like Flask-SQLAlchemy's pagination so that the
`pager` macro shows either."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def page_of(items: list, page: int, per_page: int) -> Page:
    """The page-th slice of `items` (past the end: the last page)."""
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(1, page), pages)
    return Page(items[(page - 1) * per_page: page * per_page], page, per_page, len(items))
