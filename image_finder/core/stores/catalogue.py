"""A catalogue: the images of a collection too big for one machine, in Milvus.

One ``pymilvus.MilvusClient`` code path serves Milvus Lite (a file, or ``milvus-lite
server``), Milvus Standalone or Distributed, and Zilliz Cloud. A store is named by a URI:

* ``milvus-lite:PATH.db`` (optionally ``#COLLECTION``): a Milvus Lite file on this machine;
* ``milvus://HOST:PORT/COLLECTION``: a Milvus server (``milvus-lite server``, Standalone,
  Distributed behind its proxy); ``milvuss://`` for TLS.

Per item, the collection holds the vector and what results need: its key (the primary key,
with an INVERTED index for folder prefixes: the path, and for a part of a file, a video's
moment, the path and the part), the file's path and the part, size, mtime, content hash,
width, height, indexed-at, model, the brightness layout (base64) and, in collections made since
pictures' text is read, the text read in it (``text``, analysed for Milvus's ``TEXT_MATCH``,
at most ``MAX_TEXT`` bytes) and where it came from (``text_source``: "read", "layer", "none";
"" not read). Every id is derived from
the key, so a batch written twice (Ray retrying a task) writes the same rows. A file's parts
are written in one upsert call, after its old parts are deleted (Milvus has no transactions:
a crash between the two leaves the file out, and the next run of the job, finding it
missing, indexes it again). A collection made before parts existed holds whole pictures
only, and says so when asked to take a video. The model, dimension,
precision, folders indexed and a generation (changed by every write) are kept in a small meta
collection; vectors of two models are never mixed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from image_finder.core.common.errors import ImageFinderError, ModelMismatchError
from image_finder.core.common.records import FileFacts, Item, Part, display_name
from image_finder.core.stores.catalogue_reads import ITERATOR_BATCH, CatalogueReads
from image_finder.core.stores.store import Capabilities

DEFAULT_COLLECTION = "image_finder"
MAX_UPSERT_BYTES = 40 * 1024 * 1024  # one upsert call at most (Milvus's gRPC limit is 64 MB)
MAX_PATH = 4096
QUERY_CHUNK = 500
_FIELDS = ["path", "id", "folder", "size", "mtime_ns", "content_hash", "width", "height",
           "indexed_at", "model"]  # fmt: skip
_PART_FIELDS = ["file", "part"]  # in collections made since files have parts
_TEXT_FIELDS = ["text", "text_source"]  # in collections made since text is read
PDQ_BLOB = 33  # bytes: a PDQ hash and its quality (core/pictures/pdq.py), kept as hex
MAX_TEXT = 16384  # bytes of an item's text the catalogue keeps (a dense page: about 6,000)
PART_MARK = "#part="  # a part's key: the file's path, this, and the part's own key


def part_key(path: str, part: Part | None) -> str:
    """The catalogue's key of an item: the file's (``row_key``), with the part's."""
    return row_key(path) if part is None else f"{row_key(path)}{PART_MARK}{part.key}"


def row_key(path: str) -> str:
    """A picture's key: a local path made absolute; a ``pyarrow.fs`` URI (``s3://…``) as it is."""
    return path if "://" in path else os.path.abspath(path)


def path_id(path: str) -> int:
    """The image's id: 62 bits of the path's hash, the same on every machine and every run."""
    digest = hashlib.blake2b(os.fsencode(path), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 62) - 1)


@dataclass(frozen=True)
class StoreAddress:
    uri: str  # what MilvusClient connects to
    collection: str
    text: str  # as the user gave it

    @classmethod
    def parse(cls, text: str) -> StoreAddress:
        if text.startswith("milvus-lite:"):
            path, _, collection = text[len("milvus-lite:") :].partition("#")
            if not path.endswith(".db"):
                raise ImageFinderError(f"--store {text}: a Milvus Lite file ends in .db")
            return cls(os.path.abspath(os.path.expanduser(path)), collection or DEFAULT_COLLECTION,
                       text)  # fmt: skip
        for scheme, http in (("milvus://", "http://"), ("milvuss://", "https://")):
            if text.startswith(scheme):
                host, _, collection = text[len(scheme) :].partition("/")
                if not host:
                    raise ImageFinderError(f"--store {text}: name the server (HOST:PORT)")
                return cls(http + host, collection.strip("/") or DEFAULT_COLLECTION, text)
        raise ImageFinderError(
            f"--store {text!r}: give milvus-lite:PATH.db or milvus://HOST:PORT/COLLECTION"
        )


@dataclass(frozen=True)
class CatalogueRow:
    """One image to upsert: where it is, what indexing learnt of it, its vector."""

    path: str
    facts: FileFacts
    vector: np.ndarray
    part: Part | None = None  # a video's moment; None: the whole file
    text: str = ""  # the text read in it
    text_source: str = ""  # "read", "layer", "none"; "": not read


class Catalogue(CatalogueReads):
    """A Milvus collection of images (see the module's docstring); it answers what search,
    the server and duplicates read from a library (core/stores/catalogue_reads.py)."""

    def __init__(self, store: str, *, token: str = "") -> None:
        from pymilvus import MilvusClient

        self.address = StoreAddress.parse(store)
        if self.address.uri.endswith(".db"):
            os.makedirs(os.path.dirname(self.address.uri), exist_ok=True)
        try:
            self.client = MilvusClient(self.address.uri, token=token or "")
        except Exception as exc:  # pymilvus raises MilvusException and gRPC errors
            raise ImageFinderError(f"cannot reach the catalogue {store}: {exc}") from exc
        self.collection = self.address.collection
        self.meta_collection = f"{self.collection}_meta"
        self._scopes = []
        self._scope_lock = threading.Lock()
        self._parts: bool | None = None  # whether the collection keeps parts (once it exists)
        self._texts: bool | None = None  # and text
        self._hashes: bool | None = None  # and PDQ hashes
        self._ensure_meta()

    def close(self) -> None:
        self.client.close()

    @property
    def location(self) -> str:
        return self.address.text

    def describe(self) -> dict[str, str]:
        return {"store": self.address.text, "collection": self.collection}

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------------

    def _ensure_meta(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.collection):
            self.client.load_collection(self.collection)  # a collection opens released
        if self.client.has_collection(self.meta_collection):
            self.client.load_collection(self.meta_collection)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_PATH + 16)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_PATH)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field
        index = self.client.prepare_index_params()
        index.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.meta_collection, schema=schema, index_params=index)

    def _meta(self, prefix: str) -> dict[str, str]:
        rows = self.client.query(
            self.meta_collection, filter=f"key like {_literal(_like_prefix(prefix))}",
            output_fields=["key", "value"], limit=16384,
        )  # fmt: skip
        return {r["key"]: r["value"] for r in rows}

    def _set_meta(self, values: dict[str, str]) -> None:
        rows = [{"key": k, "value": v, "unused": [0.0, 0.0]} for k, v in values.items()]
        self.client.upsert(self.meta_collection, rows)

    @property
    def model(self) -> str | None:
        return self._meta("model").get("model")

    @property
    def dim(self) -> int | None:
        found = self._meta("dim").get("dim")
        return int(found) if found else None

    def check_model(self, name: str, dim: int) -> None:
        if self.model is not None and (self.model != name or self.dim != dim):
            raise ModelMismatchError(
                f"The catalogue {self.address.text} holds {self.model} vectors ({self.dim} "
                f"dimensions), not {name}'s: vectors of two models are never mixed."
            )

    def folder_paths(self) -> list[str]:
        return sorted(self._meta("folder:").values())

    def add_folders(self, folders: Iterable[str]) -> None:
        self._set_meta({f"folder:{f}": f for f in folders})

    # -- the images ---------------------------------------------------------------------------

    def _ensure_images(self, model: str, dim: int, precision: str) -> None:
        from pymilvus import DataType, MilvusClient

        self.check_model(model, dim)
        if self.client.has_collection(self.collection):
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("path", DataType.VARCHAR, is_primary=True, max_length=MAX_PATH + 64)
        schema.add_field("id", DataType.INT64)
        schema.add_field("file", DataType.VARCHAR, max_length=MAX_PATH)
        schema.add_field("part", DataType.VARCHAR, max_length=64)
        schema.add_field("folder", DataType.VARCHAR, max_length=MAX_PATH)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for name in ("size", "mtime_ns"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("width", DataType.INT32)
        schema.add_field("height", DataType.INT32)
        schema.add_field("indexed_at", DataType.DOUBLE)
        schema.add_field("model", DataType.VARCHAR, max_length=128)
        schema.add_field("layout", DataType.VARCHAR, max_length=1024)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                         enable_match=True)  # fmt: skip
        schema.add_field("text_source", DataType.VARCHAR, max_length=8)
        schema.add_field("pdq", DataType.VARCHAR, max_length=2 * PDQ_BLOB)
        index = self.client.prepare_index_params()
        # exact inner product: the same ranking as the library's flat index; a cluster's
        # collection can be re-indexed with HNSW, IVF_PQ or DiskANN (docs/scale.md)
        index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        index.add_index(field_name="path", index_type="INVERTED")
        index.add_index(field_name="id", index_type="INVERTED")
        index.add_index(field_name="file", index_type="INVERTED")
        self.client.create_collection(self.collection, schema=schema, index_params=index)
        self._parts = self._texts = self._hashes = True
        self._set_meta({"model": model, "dim": str(dim), "precision": precision,
                        "created": str(time.time())})  # fmt: skip

    def upsert(
        self,
        rows: Sequence[CatalogueRow],
        model: str,
        folders: Iterable[str],
        *,
        precision: str = "fp32",
        replace: bool = True,
    ) -> int:
        """Write ``rows`` (by path: a retried batch writes the same rows), in calls of at most
        ``MAX_UPSERT_BYTES``, a file's parts in one; ``precision``: the one the model ran in
        (queries follow it). ``replace``: the files with parts among ``rows`` come whole, so
        their old parts go (False: the caller took them out). Returns how many were written."""
        if not rows:
            return 0
        self._ensure_images(model, int(rows[0].vector.shape[0]), precision)
        parts = self.keeps_parts
        with_parts = sorted({row_key(r.path) for r in rows if r.part is not None})
        if with_parts and not parts:
            raise ImageFinderError(
                f"the catalogue {self.address.text} was made before videos could be indexed "
                "and holds whole pictures only: index into a new collection (…#NAME or "
                "milvus://HOST:PORT/NAME) to keep videos' moments"
            )
        if replace:
            self.delete(with_parts)  # a changed video's old moments: its new ones replace them
        known = list(folders)
        now = time.time()
        batch: list[dict[str, Any]] = []
        size = written = 0
        for n, row in enumerate(rows):
            if len(os.fsencode(row.path)) > MAX_PATH:
                raise ImageFinderError(f"path too long for the catalogue: {display_name(row.path)}")
            batch.append(_record(row, model, now, known, parts, self.keeps_texts,
                                 self.keeps_hashes))  # fmt: skip
            size += row.vector.nbytes + len(row.path) * 2 + 1200
            following = rows[n + 1] if n + 1 < len(rows) else None
            same_file = following is not None and following.path == row.path
            if size >= MAX_UPSERT_BYTES and not same_file:  # a file's parts in one call
                written += self._write(batch)
                batch, size = [], 0
        return written + self._write(batch)

    @property
    def keeps_parts(self) -> bool:
        """Whether the collection keeps parts of files (made since it could: a new one does)."""
        if self._parts is None:
            self._parts = self._has_field("part")
        return self._parts in (None, True)

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return dataclasses.replace(CatalogueReads.capabilities, texts=self.keeps_texts)

    @property
    def keeps_texts(self) -> bool:
        """Whether the collection keeps the text read in pictures (made since it could)."""
        if self._texts is None:
            self._texts = self._has_field("text")
        return self._texts in (None, True)

    @property
    def keeps_hashes(self) -> bool:
        """Whether the collection keeps PDQ hashes (made since it could)."""
        if self._hashes is None:
            self._hashes = self._has_field("pdq")
        return self._hashes in (None, True)

    def _has_field(self, name: str) -> bool | None:
        """Whether the collection has the field ``name``; None: no collection yet (a new one
        will have it), asked again next time."""
        if not self.client.has_collection(self.collection):
            return None
        fields = self.client.describe_collection(self.collection)["fields"]
        return name in {f["name"] for f in fields}

    def text_candidates(self, words: Sequence[str], limit: int) -> list[tuple[int, str]]:
        """(id, text) of up to ``limit`` items whose text says every one of ``words`` (each
        as Milvus's analyser splits it; none: every item with text), for the caller to rank
        and check phrases, prefixes and words left out (core/search/text_search.py)."""
        if not self.keeps_texts or not self.client.has_collection(self.collection):
            return []
        terms = [f"TEXT_MATCH(text, {_literal(w)})" for w in words if w.strip()]
        expression = " and ".join(terms) or 'text_source in ["read", "layer"]'
        rows = self.client.query(self.collection, filter=expression,
                                 output_fields=["id", "text"], limit=int(limit))  # fmt: skip
        return [(int(r["id"]), str(r["text"])) for r in rows]

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """(source, text, lines) of those items whose text was read, as a library answers
        (the catalogue keeps no lines' places: "[]")."""
        if not self.keeps_texts:
            return {}
        rows = self._by_ids(list(ids), ["id", "text", "text_source"])
        return {int(r["id"]): (r["text_source"], r["text"], "[]") for r in rows
                if r["text_source"]}  # fmt: skip

    def _fields(self) -> list[str]:
        return [*_FIELDS, *_PART_FIELDS] if self.keeps_parts else list(_FIELDS)

    def _signal_fields(self) -> list[str]:
        """The fields of what a picture says and its hash, where the collection keeps them."""
        return [
            *(_TEXT_FIELDS if self.keeps_texts else ()),
            *(["pdq"] if self.keeps_hashes else ()),
        ]

    def _keys_of(self, paths: Sequence[str]) -> list[str]:
        """The keys of every item of the files ``paths``: each file's own, and its parts'."""
        keys = [row_key(p) for p in paths]
        if not self.keeps_parts:
            return keys
        found: set[str] = set()  # every row of such a collection names its file
        for start in range(0, len(keys), QUERY_CHUNK):
            chunk = keys[start : start + QUERY_CHUNK]
            rows = self.client.query(self.collection, filter=f"file in {_literals(chunk)}",
                                     output_fields=["path"])  # fmt: skip
            found.update(r["path"] for r in rows)
        return sorted(found)

    def _write(self, batch: list[dict[str, Any]]) -> int:
        if not batch:
            return 0
        written = int(self.client.upsert(self.collection, batch)["upsert_count"])
        self._changed()
        return written

    def _changed(self) -> None:
        self._set_meta({"generation": str(time.time_ns())})

    def delete(self, paths: Sequence[str]) -> int:
        if not paths or not self.client.has_collection(self.collection):
            return 0
        keys = self._keys_of(paths)
        if not keys:
            return 0
        found = self.client.delete(self.collection, ids=keys)
        self._changed()
        return int(found.get("delete_count", len(keys))) if isinstance(found, dict) else len(keys)

    def move(self, moves: Sequence[tuple[str, str]]) -> int:
        """Files moved or renamed (old path, new path): their rows follow, vectors kept.
        Upserted at the new path before the old is deleted, so a crash between the two leaves
        both rows, never neither; a rerun of the job tidies. Returns how many moved."""
        if not moves or not self.client.has_collection(self.collection):
            return 0
        known = self.folder_paths()
        rows = []
        gone = []
        moved = 0
        for old, new in moves:
            fields = [*self._fields(), "vector", "layout", *self._signal_fields()]
            found = self.client.get(self.collection, ids=self._keys_of([old]), output_fields=fields)
            if not found:
                continue
            new = row_key(new)
            folder = next((r for r in known if new.startswith(os.path.join(r, ""))),
                          os.path.dirname(new))  # fmt: skip
            for row in map(dict, found):
                key = part_key(new, Part.from_key(row.get("part")))
                row.update(path=key, id=path_id(key), folder=folder)
                if "file" in row:
                    row["file"] = new
                rows.append(row)
            gone.append(row_key(old))
            moved += 1
        self._write(rows)
        self.delete(gone)
        return moved

    def count(self) -> int:
        if not self.client.has_collection(self.collection):
            return 0
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def stamps(self, paths: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of those of ``paths`` in the catalogue: the unchanged are skipped."""
        if not self.client.has_collection(self.collection):
            return {}
        out: dict[str, tuple[int, int]] = {}
        parts = self.keeps_parts
        for start in range(0, len(paths), QUERY_CHUNK):
            chunk = list(paths[start : start + QUERY_CHUNK])
            if parts:  # a video's moments all carry its stamp
                rows = self.client.query(self.collection, filter=f"file in {_literals(chunk)}",
                                         output_fields=["file", "size", "mtime_ns"])  # fmt: skip
                out.update({r["file"]: (int(r["size"]), int(r["mtime_ns"])) for r in rows})
            else:
                rows = self.client.get(self.collection, ids=chunk,
                                       output_fields=["path", "size", "mtime_ns"])  # fmt: skip
                out.update({r["path"]: (int(r["size"]), int(r["mtime_ns"])) for r in rows})
        return out

    def _by_ids(self, ids: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        if not self.client.has_collection(self.collection):
            return []
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), QUERY_CHUNK):
            chunk = [int(i) for i in ids[start : start + QUERY_CHUNK]]
            rows += self.client.query(self.collection, filter=f"id in {chunk}",
                                      output_fields=fields)  # fmt: skip
        return rows

    def items(self, ids: Iterable[int]) -> dict[int, Item]:
        return {int(r["id"]): _item(r) for r in self._by_ids(list(ids), self._fields())}

    def item_by_path(self, path: str) -> Item | None:
        """The item of the file at ``path``: itself, or its first part."""
        found = self.file_items(path)
        return found[0] if found else None

    def file_items(self, path: str) -> list[Item]:
        """The items of one file: itself, or its parts (a video's moments) in order."""
        if not self.client.has_collection(self.collection):
            return []
        rows = self.client.get(self.collection, ids=self._keys_of([path]),
                               output_fields=self._fields())  # fmt: skip
        found = [_item(r) for r in rows]
        return sorted(found, key=lambda i: (i.part is not None, i.part.at if i.part else 0.0))

    def vectors(self, ids: Sequence[int], *, original: bool = False) -> np.ndarray:
        """The stored vectors of ``ids``, in order (``original``: the same, a catalogue holds
        the model's own features)."""
        rows = {int(r["id"]): r["vector"] for r in self._by_ids(ids, ["id", "vector"])}
        missing = [i for i in ids if int(i) not in rows]
        if missing:
            raise ImageFinderError(f"image {missing[0]} is not in the catalogue")
        return np.asarray([rows[int(i)] for i in ids], np.float32)

    def layouts(self, ids: Sequence[int]) -> dict[int, bytes]:
        rows = self._by_ids(ids, ["id", "layout"])
        return {int(r["id"]): base64.b64decode(r["layout"]) for r in rows if r["layout"]}

    def search(
        self, vectors: np.ndarray, k: int, *, folder: str | None = None
    ) -> list[list[tuple[int, float]]]:
        """The ``k`` nearest (id, inner product) of each vector, within ``folder`` if given."""
        if not self.client.has_collection(self.collection):
            return [[] for _ in vectors]
        expression = self.folder_filter(folder) if folder else ""
        hits = self.client.search(
            self.collection, data=np.asarray(vectors, np.float32).tolist(), limit=k,
            filter=expression, output_fields=["id"],
            search_params={"metric_type": "IP"},
        )  # fmt: skip
        return [[(int(h["entity"]["id"]), float(h["distance"])) for h in row] for row in hits]

    def folder_filter(self, folder: str) -> str:
        """Milvus's filter for the paths under ``folder`` (a prefix: the INVERTED index)."""
        prefix = row_key(folder).rstrip("/") + "/"
        return f"path like {_literal(_like_prefix(prefix))}"

    def _query_all(self, expression: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row that ``expression`` matches, a batch of rows per round trip."""
        if not self.client.has_collection(self.collection):
            return
        iterator = self.client.query_iterator(
            self.collection, batch_size=ITERATOR_BATCH, filter=expression, output_fields=fields
        )
        try:
            while rows := iterator.next():
                yield from rows
        finally:
            iterator.close()

    def rows(self, batch: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every image with its vector and metadata, ``batch`` at a time (export)."""
        if not self.client.has_collection(self.collection):
            return
        iterator = self.client.query_iterator(
            self.collection, batch_size=batch, filter="", output_fields=[*self._fields(), "vector"]
        )
        try:
            while rows := iterator.next():
                yield rows
        finally:
            iterator.close()


def _literal(text: str) -> str:
    """``text`` as a string literal of Milvus's filter expressions."""
    return json.dumps(text, ensure_ascii=False)


def _literals(texts: Sequence[str]) -> str:
    """``texts`` as a list literal of Milvus's filter expressions."""
    return "[" + ", ".join(_literal(t) for t in texts) + "]"


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern for paths that start with ``prefix`` (its wildcards escaped)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _record(
    row: CatalogueRow,
    model: str,
    now: float,
    folders: list[str],
    parts: bool,
    texts: bool,
    hashes: bool,
) -> dict[str, Any]:
    f = row.facts
    folder = next((r for r in folders if row.path.startswith(os.path.join(r, ""))),
                  os.path.dirname(row.path))  # fmt: skip
    key = part_key(row.path, row.part)
    extra = {"file": row_key(row.path), "part": row.part.key if row.part else ""} if parts else {}
    return {
        "path": key,
        "id": path_id(key),
        **extra,
        "folder": folder,
        "vector": np.asarray(row.vector, np.float32).tolist(),
        "size": int(f.size),
        "mtime_ns": int(f.mtime_ns),
        "content_hash": f.content_hash,
        "width": int(f.width or 0),
        "height": int(f.height or 0),
        "indexed_at": now,
        "model": model,
        "layout": base64.b64encode(f.layout).decode() if f.layout else "",
        **({"text": _cut(row.text, MAX_TEXT), "text_source": row.text_source} if texts else {}),
        **({"pdq": (f.pdq or b"").hex()} if hashes else {}),
    }


def _cut(text: str, size: int) -> str:
    """``text`` in at most ``size`` bytes of UTF-8, cut at a character."""
    data = text.encode()
    return text if len(data) <= size else data[:size].decode(errors="ignore")


def _item(row: dict[str, Any]) -> Item:
    path = row.get("file") or row["path"]
    return Item(
        int(row["id"]), path, display_name(os.path.basename(path)), row["folder"],
        int(row["size"]), int(row["mtime_ns"]), row["content_hash"], float(row["indexed_at"]),
        row["model"], int(row["width"]) or None, int(row["height"]) or None,
        Part.from_key(row.get("part")),
    )  # fmt: skip
