"""Item ids as a client writes them: ASCII digits only, up to 63 bits. ``²``, ``①`` or
``١`` (which ``str.isdigit`` and ``int`` take) name no item."""

from __future__ import annotations

from image_finder.server.errors import ApiError

MAX_ID = (1 << 63) - 1


def parse_id(text: str) -> int | None:
    """The id ``text`` names, or None."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def item_id(text: str, field: str) -> int:
    """The id in a form field (422 for anything else)."""
    value = parse_id(text.strip())
    if value is None:
        raise ApiError(422, "invalid", f"{field}: library item ids are numbers ({text[:40]!r})")
    return value
