"""What a library keeps per image beside its main vector: the brightness layout
(core/pictures/layout.py), the facts that narrow a search (format, time taken, camera:
core/pictures/picture_facts.py) and the vector of a text-image model (CLIP) for searching by words.

A part of :class:`~image_finder.core.stores.library.Library`, on its database
(core/stores/database.py).
The text vectors are a second set, of one model (``text_model`` in the meta table); an image
that changes loses its text vector (the next text indexing run embeds it again), and one that
is removed loses it with its row.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from image_finder.core.common.errors import ModelMismatchError
from image_finder.core.common.faults import checkpoint
from image_finder.core.common.records import Scan, decode_path, encode_path
from image_finder.core.common.spelling import one_letter_off
from image_finder.core.pictures.layout import SIGNATURE_BYTES

if TYPE_CHECKING:
    from typing import Any

    from image_finder.core.learning.concepts import Concept
    from image_finder.core.stores.database import LibraryDatabase


class SideData:
    def __init__(self, database: LibraryDatabase) -> None:
        self._database = database

    def missing_layouts(self, folder_ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, path) of the images in those folders indexed before layouts were stored, or
        before they held colours (an empty layout marks one whose file could not be read for
        it: not listed)."""
        marks = ",".join("?" * len(folder_ids))
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT id, path FROM images WHERE (layout IS NULL OR length(layout) = ?)"
                f" AND folder_id IN ({marks})",
                [SIGNATURE_BYTES, *(int(f) for f in folder_ids)],
            ).fetchall()
        return [(r[0], decode_path(r[1])) for r in rows]

    def set_layouts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Store brightness layouts (id, layout) for images already indexed."""
        with self._database.transaction() as db:
            db.executemany("UPDATE images SET layout=? WHERE id=?", [(b, i) for i, b in rows])

    def missing_hashes(self, folder_ids: Sequence[int]) -> list[tuple[int, str, str | None]]:
        """(id, path, part) of the photos and video moments in those folders that have no PDQ
        hash yet (indexed by an earlier version; an empty one marks a picture that could not
        be hashed: not listed)."""
        marks = ",".join("?" * len(folder_ids))
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT id, path, part FROM images WHERE pdq IS NULL AND (part IS NULL OR part"
                f" LIKE 'time:%') AND folder_id IN ({marks})",
                [int(f) for f in folder_ids],
            ).fetchall()
        return [(r[0], decode_path(r[1]), r[2]) for r in rows]

    def set_hashes(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Store PDQ hashes (id, hash and quality: core/pictures/pdq.py) of items indexed."""
        with self._database.transaction() as db:
            db.executemany("UPDATE images SET pdq=? WHERE id=?", [(b, i) for i, b in rows])

    def hashes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The PDQ hashes (with their quality) of those items that have one."""
        rows = self._by_id("SELECT id, pdq FROM images WHERE length(pdq) > 0", ids)
        return {r[0]: bytes(r[1]) for r in rows}

    def layouts(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored brightness layouts (core/pictures/layout.py) of those images that have one
        (not those indexed before layouts were stored, nor those whose file could not be read)."""
        rows = self._by_id("SELECT id, layout FROM images WHERE length(layout) > 0", ids)
        return {r[0]: bytes(r[1]) for r in rows}

    # -- facts that narrow a search ----------------------------------------------------------

    def missing_facts(self, folder_ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, path) of the images in those folders whose format, time taken and camera (and
        a video's length) have not been read yet (new ones, and those indexed by an earlier
        version)."""
        marks = ",".join("?" * len(folder_ids))
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT id, path FROM images WHERE (format IS NULL OR (part LIKE 'time:%' AND"
                f" duration IS NULL)) AND folder_id IN ({marks})",
                [int(f) for f in folder_ids],
            ).fetchall()
        return [(r[0], decode_path(r[1])) for r in rows]

    def set_facts(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store (id, format, taken_at, camera[, duration[, modality, body_part, series,
        series_uid]]) for images already indexed (the duration: a video's length in seconds;
        the rest: a DICOM file's)."""
        with self._database.transaction() as db:
            db.executemany(
                "UPDATE images SET format=?, taken_at=?, camera=?, duration=?, modality=?,"
                " body_part=?, series=?, series_uid=? WHERE id=?",
                [(*r[1:4], *(tuple(r[4:9]) + (None,) * 5)[:5], r[0]) for r in rows],
            )
            self._database.set_meta(
                "facts_stamp", int(self._database.meta("facts_stamp", "0") or 0) + 1
            )

    def facts_version(self) -> tuple[str, str]:
        """Changes whenever the images or their facts change (cheap to ask)."""
        with self._database.lock:
            return (
                self._database.meta("generation", "0") or "0",
                self._database.meta("facts_stamp", "0") or "0",
            )

    def fact_rows(self) -> list[tuple[Any, ...]]:
        """(id, size, mtime_ns, width, height, taken_at, format, camera, duration, modality,
        body_part, series, part) of every image."""
        with self._database.lock:
            return self._database.connection.execute(
                "SELECT id, size, mtime_ns, width, height, taken_at, format, camera, duration,"
                " modality, body_part, series, part FROM images"
            ).fetchall()

    # -- text read in pictures (core/indexing/texts.py) --------------------------------------

    def missing_texts(self) -> list[tuple[int, str, str | None, str]]:
        """(id, path, part key, format) of the items whose text has not been read yet."""
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT images.id, path, part, ifnull(format, '') FROM images LEFT JOIN"
                " item_text ON item_text.id = images.id WHERE item_text.id IS NULL"
                " ORDER BY images.id"
            ).fetchall()
        return [(r[0], decode_path(r[1]), r[2], r[3]) for r in rows]

    def set_texts(self, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Store (id, source, text, lines as JSON) for items whose text was read; an item
        removed meanwhile is left out."""
        with self._database.transaction() as db:
            # deleted, then inserted: a REPLACE would not fire the index's delete trigger
            db.executemany("DELETE FROM item_text WHERE id = ?", [(r[0],) for r in rows])
            db.executemany(
                "INSERT INTO item_text SELECT ?, ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM images WHERE id = ?)",
                [(*r, r[0]) for r in rows],
            )
            checkpoint("texts_before_commit")

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """(source, text, lines as JSON) of those items whose text was read."""
        rows = self._by_id("SELECT id, source, text, lines FROM item_text WHERE 1", ids)
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def has_texts(self) -> bool:
        """Whether any item's text says something."""
        with self._database.lock:
            row = self._database.connection.execute(
                "SELECT 1 FROM item_text WHERE text != '' LIMIT 1"
            ).fetchone()
        return row is not None

    def words_near(self, word: str) -> list[str]:
        """The words of the texts read that are ``word`` with one letter changed, added or
        taken away (a typo)."""
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT term FROM text_words WHERE length(term) BETWEEN ? AND ?"
                " AND (substr(term, 1, 1) = ? OR substr(term, 2, 1) = ?)",
                (len(word) - 1, len(word) + 1, word[:1], word[1:2]),
            ).fetchall()
        return [r[0] for r in rows if one_letter_off(word, r[0])]

    def text_matches(self, query: str, limit: int) -> list[tuple[int, float, str]]:
        """(id, rank, snippet) of the items whose text matches the FTS5 ``query``, best first
        (rank: bm25, lower is better; the snippet marks the words matched with [ ])."""
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT rowid, bm25(text_search), snippet(text_search, 0, '[', ']', '…', 12)"
                " FROM text_search WHERE text_search MATCH ? ORDER BY bm25(text_search)"
                " LIMIT ?",
                (query, int(limit)),
            ).fetchall()
        return [(int(r[0]), float(r[1]), str(r[2])) for r in rows]

    def page_prints(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The prints of those images that are pages with one (core/pictures/page_print.py)."""
        rows = self._by_id("SELECT id, page_print FROM images WHERE length(page_print) > 0", ids)
        return {r[0]: bytes(r[1]) for r in rows}

    def missing_page_prints(self, folder_ids: Sequence[int]) -> list[tuple[int, str, int]]:
        """(id, path, page number) of the pages of documents in those folders indexed before
        prints were kept (an empty print marks a page that could not be read for it)."""
        marks = ",".join("?" * len(folder_ids))
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT id, path, part FROM images WHERE part LIKE 'page:%' AND page_print IS"
                f" NULL AND folder_id IN ({marks})",
                [int(f) for f in folder_ids],
            ).fetchall()
        return [(r[0], decode_path(r[1]), int(float(r[2].split(":", 1)[1]))) for r in rows]

    def set_page_prints(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Store page prints (id, print) for pages already indexed."""
        with self._database.transaction() as db:
            db.executemany("UPDATE images SET page_print=? WHERE id=?", [(p, i) for i, p in rows])
            self._database.set_meta(  # what caches of the pages with prints ask (not the vectors)
                "facts_stamp", int(self._database.meta("facts_stamp", "0") or 0) + 1
            )

    def page_ids(self) -> np.ndarray:
        """The ids of the pages that have a print."""
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT id FROM images WHERE length(page_print) > 0"
            ).fetchall()
        return np.asarray([r[0] for r in rows], np.int64)

    def scans(self, ids: Sequence[int]) -> dict[int, Scan]:
        """What is shown of those images that are medical images (DICOM), by id."""
        rows = self._by_id(
            "SELECT id, modality, body_part, taken_at, series, series_uid FROM images"
            " WHERE format = 'dicom'",
            ids,
        )
        return {r[0]: Scan(r[1] or "", r[2] or "", r[3], r[4] or "", r[5] or "") for r in rows}

    def _by_id(self, select: str, ids: Sequence[int]) -> list[Any]:
        """The rows of ``select`` (a query ending in its WHERE condition) for those ``ids``,
        asked 500 at a time (SQLite's limit on a query's parameters)."""
        id_list = [int(i) for i in ids]
        rows: list[Any] = []
        with self._database.lock:
            for start in range(0, len(id_list), 500):
                chunk = id_list[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found = self._database.connection.execute(f"{select} AND id IN ({marks})", chunk)
                rows += found.fetchall()
        return rows

    # -- concepts (core/learning/concepts.py) ---------------------------------------------------

    def save_concept(self, concept: Concept) -> None:
        """Keep ``concept`` (replacing one of its name)."""
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO concepts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (concept.name, concept.model, np.asarray(concept.weights, np.float32).tobytes(),
                 concept.bias, concept.positives, concept.negatives, concept.created,
                 concept.updated, json.dumps(_examples(concept))),
            )  # fmt: skip

    def concepts(self) -> list[Concept]:
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT * FROM concepts ORDER BY name"
            ).fetchall()
        return [_concept(r) for r in rows]

    def concept(self, name: str) -> Concept | None:
        with self._database.lock:
            row = self._database.connection.execute(
                "SELECT * FROM concepts WHERE name=?", (name,)
            ).fetchone()
        return _concept(row) if row else None

    def remove_concept(self, name: str) -> bool:
        with self._database.transaction() as db:
            return db.execute("DELETE FROM concepts WHERE name=?", (name,)).rowcount > 0

    # -- text vectors -------------------------------------------------------------------------

    @property
    def text_model(self) -> str | None:
        """The model of the library's text vectors, if it has any."""
        with self._database.lock:
            return self._database.meta("text_model")

    def text_gaps(self, limit: int, after: int = 0) -> list[tuple[int, str]]:
        """(id, path) of images without a text vector, in id order, after id ``after``."""
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT images.id, images.path FROM images LEFT JOIN text_vectors"
                " ON text_vectors.image_id = images.id WHERE text_vectors.image_id IS NULL"
                " AND images.id > ? ORDER BY images.id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(int(r[0]), decode_path(r[1])) for r in rows]

    def text_counts(self) -> tuple[int, int]:
        """(images with a text vector, images in all)."""
        with self._database.lock:
            done = self._database.connection.execute(
                "SELECT COUNT(*) FROM text_vectors"
            ).fetchone()[0]
            total = self._database.connection.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        return int(done), int(total)

    def set_text_vectors(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store one batch of text vectors atomically (images removed meanwhile are skipped)."""
        with self._database.transaction() as db:
            current = self._database.meta("text_model")
            if current is None:
                self._database.set_meta("text_model", model)
            elif current != model:
                raise ModelMismatchError(
                    f"This library's text vectors are of {current}, not {model}."
                )
            db.executemany(
                "INSERT OR REPLACE INTO text_vectors (image_id, vector)"
                " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM images WHERE id=?)",
                [
                    (int(i), np.ascontiguousarray(v, np.float32).tobytes(), int(i))
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )
            self._database.set_meta(
                "text_generation", int(self._database.meta("text_generation", "0") or 0) + 1
            )

    def drop_text_vectors(self) -> None:
        with self._database.transaction() as db:
            db.execute("DELETE FROM text_vectors")
            db.execute("DELETE FROM meta WHERE key IN ('text_model', 'text_generation')")

    def text_version(self) -> tuple[str, str]:
        """Changes whenever the images or their text vectors change (cheap to ask)."""
        with self._database.lock:
            return (
                self._database.meta("generation", "0") or "0",
                self._database.meta("text_generation", "0") or "0",
            )

    def text_vectors(self) -> tuple[tuple[str, str], np.ndarray, np.ndarray]:
        """(version, ids, vectors) of every text vector; the version changes with them."""
        with self._database.lock:
            version = self.text_version()
            rows = self._database.connection.execute(
                "SELECT image_id, vector FROM text_vectors"
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        return version, ids, vectors

    # -- matches in watched hash banks (core/banks/watch.py) ----------------------------------

    def indexed_since(self, when: float) -> list[tuple[int, str, str | None, float]]:
        """(id, path, part, indexed_at) of the items embedded after ``when``, oldest first."""
        with self._database.lock:
            rows = self._database.connection.execute(
                "SELECT id, path, part, indexed_at FROM images WHERE indexed_at > ?"
                " ORDER BY indexed_at, id",
                (float(when),),
            ).fetchall()
        return [(r[0], decode_path(r[1]), r[2], float(r[3])) for r in rows]

    def record_matches(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Record matches (once per item and bank); the ids of those not recorded before."""
        added: list[int] = []
        with self._database.transaction() as db:
            for row in rows:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO bank_matches (image_id, path, part, bank, label,"
                    " signal, value, threshold, entry, found_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
                    " ?, ?)",
                    (row["image_id"], encode_path(row["path"]), row["part"], row["bank"],
                     row["label"], row["signal"], row["value"], row["threshold"], row["entry"],
                     row["found_at"]),
                )  # fmt: skip
                if cursor.rowcount:
                    added.append(int(cursor.lastrowid or 0))
        return added

    def decide_match(self, match_id: int, decision: str, who: str, when: float) -> bool:
        """Record a decision on a match (confirmed, dismissed), and who made it; False when
        there is no such match."""
        with self._database.transaction() as db:
            done = db.execute(
                "UPDATE bank_matches SET decision=?, decided_by=?, decided_at=? WHERE id=?",
                (decision, who, when, int(match_id)),
            ).rowcount
        return bool(done)

    def bank_matches(
        self,
        ids: Sequence[int] | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded matches, newest first (``ids``: those only; ``after``: those recorded
        after that match id, oldest first)."""
        where, order = "", "DESC"
        if ids is not None:
            where = f"WHERE id IN ({','.join(str(int(i)) for i in ids) or 'NULL'})"
        elif after is not None:
            where, order = f"WHERE id > {int(after)}", "ASC"
        with self._database.lock:
            cursor = self._database.connection.execute(
                "SELECT id, image_id, path, part, bank, label, signal, value, threshold, entry,"
                f" found_at, decision, decided_by, decided_at FROM bank_matches {where}"
                f" ORDER BY id {order} LIMIT ? OFFSET ?",
                [int(limit), int(offset)],
            )
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        found = [dict(zip(names, row, strict=True)) for row in rows]
        for row in found:
            row["path"] = decode_path(row["path"])
        return found


def _concept(row: Sequence[Any]) -> Concept:
    from image_finder.core.learning.concepts import Concept

    name, model, weights, bias, positives, negatives, created, updated, examples = row
    vector = np.frombuffer(weights, np.float32).copy()
    kept = json.loads(examples) if examples else {}
    outside = None
    if kept.get("outside"):  # the model's vectors of examples outside the library
        outside = np.frombuffer(base64.b64decode(kept["outside"]), np.float32).reshape(
            -1, len(vector)
        )
    return Concept(name, model, vector, bias, positives, negatives, created, updated,
                   tuple(kept.get("positives", ())), tuple(kept.get("negatives", ())),
                   outside)  # fmt: skip


def _examples(concept: Concept) -> dict[str, Any]:
    """What a concept was learnt from: library ids, and the vectors of examples from outside."""
    kept: dict[str, Any] = {
        "positives": list(concept.positive_ids),
        "negatives": list(concept.negative_ids),
    }
    if concept.outside is not None and len(concept.outside):
        raw = np.ascontiguousarray(concept.outside, np.float32).tobytes()
        kept["outside"] = base64.b64encode(raw).decode("ascii")
    return kept
