"""The library's two vector spaces: the model's own vectors, and the same vectors through the
library's adapter (core/learning/adapter.py), once one is applied.

A part of :class:`~image_finder.core.stores.library.Library`, on its database
(core/stores/database.py).
Both sets are stored: ``images.vector`` (the original, always) and ``images.adapted`` (every
row, while the library has an adapter). ``adapter.active`` says which set is searched; changing
it bumps the generation, so every process rebuilds its index from the other set at its next
search, and no picture is embedded again. Applying an adapter projects every stored vector in
the same transaction that installs it: a crash at any moment leaves the old space or the new
one, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.common.faults import checkpoint

if TYPE_CHECKING:
    from image_finder.core.learning.adapter import Adapter
    from image_finder.core.stores.database import LibraryDatabase

PROJECT_CHUNK = 2048  # rows projected per step of an install


class AdaptedVectors:
    def __init__(self, database: LibraryDatabase) -> None:
        self._database = database

    # -- the adapter --------------------------------------------------------------------------

    @property
    def adapter(self) -> Adapter | None:
        """The library's adapter, searched or not (None: it has none)."""
        generation = self._database.generation
        cached: tuple[int, Adapter | None] | None = getattr(self, "_adapter_cache", None)
        if cached is not None and cached[0] == generation:
            return cached[1]
        with self._database.lock:
            row = self._database.connection.execute("SELECT * FROM adapter WHERE id=1").fetchone()
        found = _adapter(row) if row else None
        self._adapter_cache = (generation, found)
        return found

    @property
    def active_adapter(self) -> Adapter | None:
        """The adapter the library is searched through (None: the model's own vectors)."""
        adapter = self.adapter
        return adapter if adapter is not None and adapter.active else None

    @property
    def space(self) -> str:
        """Names the vectors searched: the model's, or the model's through one adapter."""
        adapter = self.active_adapter
        model = self._database.model or ""
        return model if adapter is None else f"{model}+{adapter.tag}"

    def _column(self, original: bool) -> str:
        return "vector" if original or self.active_adapter is None else "adapted"

    def adapted_rows(self, vectors: np.ndarray) -> list[bytes | None]:
        """What ``images.adapted`` holds for new vectors (NULL without an adapter)."""
        adapter = self.adapter
        if adapter is None or not len(vectors):
            return [None] * len(vectors)
        return [v.tobytes() for v in adapter.project(vectors)]

    def searched(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (the model's) in the space the library is searched in."""
        adapter = self.active_adapter
        return vectors if adapter is None or not len(vectors) else adapter.project(vectors)

    def vectors(self, ids: Sequence[int], *, original: bool = False) -> np.ndarray:
        """The stored vectors of ``ids``, in that order (500 per query): those searched, or
        with ``original`` the model's own."""
        column = self._column(original)
        id_list = [int(i) for i in ids]
        out = np.zeros((len(id_list), self._database.dim or 0), np.float32)
        rows: dict[int, bytes] = {}
        with self._database.lock:
            for start in range(0, len(id_list), 500):
                chunk = id_list[start : start + 500]
                rows.update(
                    self._database.connection.execute(
                        f"SELECT id, {column} FROM images"
                        f" WHERE id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                )
        for n, image_id in enumerate(id_list):
            if image_id not in rows:
                raise ImageFinderError(f"image {image_id} is not in the library")
            out[n] = np.frombuffer(rows[image_id], np.float32)
        return out

    def install_adapter(
        self,
        adapter: Adapter,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> bool:
        """Project every stored vector through ``adapter`` and search through it from now on,
        all in one transaction (False: cancelled, nothing changed). The caller holds the
        writer lock."""
        try:
            self._install(adapter, progress, cancelled)
        except _Cancelled:
            return False
        return True

    def _install(
        self,
        adapter: Adapter,
        progress: Callable[[int, int], None] | None,
        cancelled: Callable[[], bool] | None,
    ) -> None:
        with self._database.transaction() as db:
            total = int(db.execute("SELECT COUNT(*) FROM images").fetchone()[0])
            done, last = 0, -1
            while True:
                rows = db.execute(
                    "SELECT id, vector FROM images WHERE id > ? ORDER BY id LIMIT ?",
                    (last, PROJECT_CHUNK),
                ).fetchall()
                if not rows:
                    break
                if cancelled is not None and cancelled():
                    raise _Cancelled
                ids = [r[0] for r in rows]
                original = np.frombuffer(b"".join(r[1] for r in rows), np.float32)
                projected = adapter.project(original.reshape(len(rows), -1))
                db.executemany(
                    "UPDATE images SET adapted=? WHERE id=?",
                    [(v.tobytes(), i) for v, i in zip(projected, ids, strict=True)],
                )
                done, last = done + len(rows), ids[-1]
                checkpoint("adapter_projecting")
                if progress is not None:
                    progress(done, total)
            db.execute("DELETE FROM adapter")
            db.execute(
                "INSERT INTO adapter VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (adapter.model, np.asarray(adapter.weights, np.float32).tobytes(),
                 np.asarray(adapter.bias, np.float32).tobytes(), json.dumps(list(adapter.labels)),
                 adapter.created, adapter.map_before, adapter.map_after, adapter.held_out,
                 adapter.trained_on, adapter.seconds),
            )  # fmt: skip
            self._database.bump_generation()

    def set_adapter_active(self, active: bool) -> bool:
        """Search through the adapter (True) or the model's own vectors; False when there was
        nothing to change. The caller holds the writer lock."""
        adapter = self.adapter
        if adapter is None:
            raise ImageFinderError("This library has no adapter (image-finder-cli tune).")
        if adapter.active == active:
            return False
        with self._database.transaction() as db:
            db.execute("UPDATE adapter SET active=?", (int(active),))
            self._database.bump_generation()
        return True

    def remove_adapter(self) -> bool:
        """Forget the adapter and its vectors (the model's own are searched)."""
        if self.adapter is None:
            return False
        with self._database.transaction() as db:
            db.execute("DELETE FROM adapter")
            db.execute("UPDATE images SET adapted=NULL")
            self._database.bump_generation()
        return True


class _Cancelled(Exception):
    """Rolls back an install (the transaction sees an exception)."""


def _adapter(row: Sequence[Any]) -> Adapter:
    from image_finder.core.learning.adapter import Adapter

    (_, model, weights, bias, labels, created, before, after, held_out, trained_on, seconds,
     active) = row  # fmt: skip
    w = np.frombuffer(weights, np.float32)
    dim = round(np.sqrt(w.size))
    return Adapter(
        model=str(model),
        weights=w.reshape(dim, dim).copy(),
        bias=np.frombuffer(bias, np.float32).copy(),
        labels=tuple(json.loads(str(labels))),
        created=float(created),
        map_before=float(before),
        map_after=float(after),
        held_out=int(held_out),
        trained_on=int(trained_on),
        seconds=float(seconds),
        active=bool(active),
    )
