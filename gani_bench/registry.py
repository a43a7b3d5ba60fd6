"""A tiny name -> object registry shared by methods, metrics, datasets, weights and generators.

Registries replace if-chains: a plugin registers itself by name on import, and every lookup of
an unknown name fails with one line that lists the valid names.
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterable, Iterator, List, Tuple, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Ordered mapping of names to objects, with decorator registration and helpful errors."""

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._items: Dict[str, T] = {}

    def add(self, name: str, obj: T, *, replace: bool = False) -> T:
        if name in self._items and not replace and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form: ``@METHODS.register("pti")``."""

        def deco(obj: T) -> T:
            return self.add(name, obj)

        return deco

    def reorder(self, first: Iterable[str]) -> None:
        """Put the registered names among ``first`` first, in that order; the others keep theirs after.

        Why: registration order is import order, which a refactor can change; listings and
        ``--method all`` follow a declared order instead (the method catalogue's).
        """
        head = [n for n in first if n in self._items]
        rest = [n for n in self._items if n not in set(head)]
        self._items = {n: self._items[n] for n in head + rest}

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none registered)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid {self.plural}: {valid}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> List[str]:
        return list(self._items)

    def items(self) -> List[Tuple[str, T]]:
        return list(self._items.items())
