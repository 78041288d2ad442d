"""The search history behind Back and Forward: Qt-free, so that it is tested on its own."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class History(Generic[T]):
    """Back/Forward over the searches made: a list and a position in it."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._pos = -1

    def push(self, item: T) -> None:
        """A new search: what was ahead of the current one is dropped."""
        del self._items[self._pos + 1 :]
        self._items.append(item)
        self._pos = len(self._items) - 1

    @property
    def current(self) -> T | None:
        return self._items[self._pos] if self._pos >= 0 else None

    @property
    def can_go_back(self) -> bool:
        return self._pos > 0

    @property
    def can_go_forward(self) -> bool:
        return self._pos < len(self._items) - 1

    def back(self) -> T | None:
        if not self.can_go_back:
            return None
        self._pos -= 1
        return self._items[self._pos]

    def forward(self) -> T | None:
        if not self.can_go_forward:
            return None
        self._pos += 1
        return self._items[self._pos]

    def __len__(self) -> int:
        return len(self._items)
