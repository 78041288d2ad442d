"""Words typed with a typo."""

from __future__ import annotations


def one_letter_off(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one letter changed, added or taken away."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:n] + long[n + 1 :] == short for n in range(len(long)))
