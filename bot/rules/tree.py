"""The org tree as plain ids: who is below whom."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Placed(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...


Children = dict[int | None, list[int]]


def children_of(orgs: Iterable[Placed]) -> Children:
    """Each org's children (made once, walked for as many subtrees as needed)."""
    children: Children = {}
    for o in orgs:
        children.setdefault(o.parent_id, []).append(o.id)
    return children


def subtree(children: Children, roots: Iterable[int]) -> set[int]:
    """These orgs and every org below them."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += children.get(current, [])
    return seen
