"""Medical images and scanned pages in a library: DICOM slices found by a picture of one, a
series grouped at its best slice, frames and TIFF pages as parts, conditions on the scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from image_finder.core.common.records import Part
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search.conditions import Conditions
from image_finder.core.search.searcher import Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library
from tests.videos import photo

pytest.importorskip("pydicom")


def test_scans_and_scanned_pages_are_found_and_grouped(medical, tmp_path, lite0):
    query = tmp_path / "moon.jpg"
    photo("moon").resize((200, 200)).save(query, quality=50)
    with Library(tmp_path / "lib") as library:
        report = index_folders([medical], library, lite0)
        reasons = {Path(s.path).name: s.reason for s in report.skipped}
        assert reasons == {"plan.dcm": "no image in it (a report or a presentation state)"}
        assert [i.part for i in library.file_items(medical / "cine.dcm")] == [
            Part.frame(1), Part.frame(2)
        ]  # fmt: skip
        assert [i.part for i in library.file_items(medical / "fax.tiff")] == [
            Part.page(1), Part.page(2), Part.page(3)
        ]  # fmt: skip
        assert library.item_by_path(str(medical / "IM000004")) is not None  # by its preamble
        assert library.file_counts() == {"videos": 0, "moments": 0, "documents": 1, "pages": 3,
                                         "medical": 5, "medical_images": 6}  # fmt: skip

        searcher = Searcher(library, lite0)
        found = searcher.search(Query.file(str(query)), SearchOptions(top_k=5))
        best = found.results[0]
        assert best.item.filename == "slice2.dcm"
        assert [s["filename"] for s in best.slices] == ["slice1.dcm", "slice3.dcm"]
        assert sum(r.item.filename.startswith("slice") for r in found.results) == 1
        ungrouped = searcher.search(Query.file(str(query)), SearchOptions(top_k=12,
                                    group_parts=False))  # fmt: skip
        assert sum(r.item.filename.startswith("slice") for r in ungrouped.results) == 3

        def names(**given: str) -> set[str]:
            conditions = Conditions.from_values(**given)
            asked = Query.file(str(query)).where(conditions)
            outcome = searcher.search(asked, SearchOptions(top_k=20, group_parts=False))
            return {r.item.label for r in outcome.results}

        assert names(modality="mr") == {"IM000004"}
        assert names(body_part="chest") == {"slice1.dcm", "slice2.dcm", "slice3.dcm"}
        assert names(series="cine") == {"cine.dcm · frame 1", "cine.dcm · frame 2"}
        assert names(kind="page") == {f"fax.tiff · p. {n}" for n in (1, 2, 3)}
        assert len(names(kind="medical")) == 6
        assert names(taken_after="2024-03-15", taken_before="2024-03-15", modality="CT,MR") == {
            "slice1.dcm",
            "slice2.dcm",
            "slice3.dcm",
            "IM000004",
        }  # fmt: skip  (the study date is the date)
