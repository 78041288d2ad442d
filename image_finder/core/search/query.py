"""What a search starts from: one or more examples (files, pasted images, library items),
or words; examples to leave out; and conditions on the files (core/search/conditions.py)."""

from __future__ import annotations

import dataclasses
import enum
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL.Image import Image as PILImage

from image_finder.core.common.records import Item, display_name
from image_finder.core.pictures.images import ImageSource
from image_finder.core.search.conditions import Conditions

if TYPE_CHECKING:
    from PIL import Image


class QueryKind(enum.Enum):
    FILE = "file"
    IMAGE = "image"  # image data in memory (pasted), as encoded bytes
    ITEM = "item"  # an image already in the library
    TEXT = "text"  # words: "dog", "sports car -red"
    CONCEPT = "concept"  # a concept of the library's, by name (core/learning/concepts.py)


@dataclass(frozen=True)
class Query:
    """What a search starts from: a file, image data (a pasted picture), a library item, or
    words."""

    kind: QueryKind
    label: str
    path: str = ""
    data: bytes = b""
    item_id: int = 0
    text: str = ""
    concept: str = ""  # a concept's name (QueryKind.CONCEPT)
    like: tuple[Query, ...] = ()  # more examples of what is wanted, searched together
    unlike: tuple[Query, ...] = ()  # examples of what is not wanted
    conditions: Conditions = field(default_factory=Conditions)

    @classmethod
    def file(cls, path: str | os.PathLike[str]) -> Query:
        full = os.path.abspath(os.fspath(path))
        return cls(QueryKind.FILE, display_name(os.path.basename(full)), path=full)

    @classmethod
    def of(cls, source: ImageSource) -> Query:
        """A file for a path, image data for bytes, a picture for a decoded image."""
        if isinstance(source, (str, os.PathLike)):
            return cls.file(source)
        if isinstance(source, bytes):
            return cls.image(source, "Image data")
        if isinstance(source, PILImage):
            return cls.picture(source)
        raise TypeError(f"cannot search with {type(source).__name__}")

    @classmethod
    def image(cls, data: bytes, label: str = "Pasted image") -> Query:
        return cls(QueryKind.IMAGE, label, data=data)

    @classmethod
    def picture(cls, image: Image.Image, label: str = "Image") -> Query:
        """An image already decoded (kept as PNG, so that the query can be repeated)."""
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return cls.image(buffer.getvalue(), label)

    @classmethod
    def item(cls, item: Item) -> Query:
        return cls(QueryKind.ITEM, item.filename, path=item.path, item_id=item.id)

    @classmethod
    def words(cls, text: str) -> Query:
        text = " ".join(text.split())
        return cls(QueryKind.TEXT, f"“{text}”", text=text)

    def with_words(self, text: str) -> Query:
        """This image, with words that change what is searched for ("at night")."""
        text = " ".join(text.split())
        base = self.label.rsplit(" + “", 1)[0] if self.text else self.label
        return dataclasses.replace(self, text=text, label=f"{base} + “{text}”")

    @classmethod
    def of_concept(cls, name: str) -> Query:
        name = " ".join(name.split())
        return cls(QueryKind.CONCEPT, f"concept {name}", concept=name)

    @classmethod
    def together(cls, parts: Sequence[Query]) -> Query:
        """One query of several examples (the first leads; at least one)."""
        return dataclasses.replace(parts[0], like=tuple(parts[1:]))

    def but_not(self, *parts: Query) -> Query:
        """This query, with more examples of what is not wanted."""
        return dataclasses.replace(self, unlike=self.unlike + tuple(parts))

    def where(self, conditions: Conditions) -> Query:
        return dataclasses.replace(self, conditions=conditions)

    def without_example(self, n: int) -> Query:
        """This query less its example ``n`` (of :attr:`examples`; the last one stays)."""
        parts = [p for i, p in enumerate(self.examples) if i != n] or [self]
        lead = dataclasses.replace(parts[0], like=tuple(parts[1:]), unlike=self.unlike)
        return dataclasses.replace(lead, conditions=self.conditions)

    def without_unlike(self, n: int) -> Query:
        return dataclasses.replace(
            self, unlike=tuple(p for i, p in enumerate(self.unlike) if i != n)
        )

    def without_words(self) -> Query:
        """An image with words, less the words (a words query stays as it is)."""
        if self.kind is QueryKind.TEXT or not self.text:
            return self
        return dataclasses.replace(self, text="", label=self.label.rsplit(" + “", 1)[0])

    @property
    def examples(self) -> tuple[Query, ...]:
        return (self, *self.like)

    @property
    def compound(self) -> bool:
        """Several examples, or some to leave out: searched as one combined vector."""
        return bool(self.like or self.unlike)

    @property
    def summary(self) -> str:
        """The query in a few words: 'coffee.jpg + 2 more, not 1 · taken from 2024-01-01'."""
        text = self.label + (f" + {len(self.like)} more" if self.like else "")
        text += f", not {len(self.unlike)}" if self.unlike else ""
        return " · ".join([text, *(words for _, words in self.conditions.parts())])

    def parts_json(self) -> dict[str, Any]:
        """The parts of the query a search used, for the JSON of its results."""
        data: dict[str, Any] = {"like": [p.label for p in self.examples]}
        if self.unlike:
            data["unlike"] = [p.label for p in self.unlike]
        if self.text:
            data["text"] = self.text
        if self.conditions:
            data["conditions"] = self.conditions.to_json()
        return data

    @property
    def key(self) -> tuple[QueryKind, str, int, int]:
        return (self.kind, self.path or self.text or self.concept, self.item_id, hash(self.data))

    @property
    def source(self) -> ImageSource:
        return self.data if self.kind is QueryKind.IMAGE else self.path
