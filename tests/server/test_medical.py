"""The patient's identifiers planted in DICOM files are absent from everything the product
prints, logs, stores or serves: the CLI's words and JSON, the log files, the library's files,
the API's answers, thumbnails and pictures."""

from __future__ import annotations

import json
import logging

import pytest

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.stores.library import Library
from tests import dicoms
from tests.helpers import run
from tests.server.conftest import bearer

pytest.importorskip("pydicom")


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return [p for p in dicoms.IDENTIFIERS if p.encode() in data or p.lower().encode() in data]


def test_patient_identifiers_never_leave_the_file(medical,
    tmp_path, lite0, capsys, caplog,
                                                  serve, token):  # fmt: skip
    caplog.set_level(logging.DEBUG)
    lib = tmp_path / "lib"
    outputs: list[str | bytes] = []
    with Library(lib) as library:
        index_folders([medical], library, lite0)
    query = str(medical / "ct" / "slice2.dcm")
    for args in (
        ("search", query),
        ("search", query, "--json"),
        ("search", query, "--modality", "CT", "--json"),
        ("duplicates", "--json"),
        ("status", "--json"),
    ):
        code, out, err = run(capsys, "--data-dir", str(lib), *args)
        assert code == 0, err
        outputs += [out, err]
    found = json.loads(run(capsys, "--data-dir", str(lib), "search", query, "--json")[1])
    assert found["results"][0]["filename"] == "slice2.dcm"

    client = serve(folder=lib)
    with open(query, "rb") as f:  # a DICOM file uploaded as the query
        answer = client.post("/api/v1/search", files={"image": f}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    outputs.append(answer.content)
    for result in answer.json()["results"]:
        for link in ("thumbnail", "image"):
            if result.get(link):
                got = client.get(result[link], headers=bearer(token))
                assert got.status_code == 200, (link, got.text)
                outputs.append(got.content)
        outputs.append(client.get(f"/api/v1/items/{result['id']}", headers=bearer(token)).content)
    outputs += [r.getMessage() for r in caplog.records]
    outputs.append(caplog.text)
    from image_finder.core.common import paths

    logs = [f for f in paths.log_dir().rglob("*") if f.is_file()]
    stored = [f for f in lib.rglob("*") if f.is_file()]  # the database, the index, the backup
    assert logs and any(f.name == "library.sqlite3" for f in stored)
    outputs += [f.read_bytes() for f in logs + stored]
    assert all(not _leaks(o) for o in outputs), [_leaks(o) for o in outputs if _leaks(o)]
    # the served picture of a DICOM item is its image, not the file (which holds the patient)
    served = next(o for o in outputs if isinstance(o, bytes) and o[:8] == b"\x89PNG\r\n\x1a\n")
    assert b"DICM" not in served
