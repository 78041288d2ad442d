"""Several examples, examples left out, and conditions on the files, in one query."""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from image_finder.core.common.errors import ImageFinderError
from image_finder.core.embedding.extractor import PixelExtractor
from image_finder.core.indexing.indexer import index_folders
from image_finder.core.search import examples
from image_finder.core.search.conditions import Conditions, Orientation, parse_date, parse_formats
from image_finder.core.search.searcher import Query, Searcher, SearchOptions
from image_finder.core.stores.library import Library


def unit(*v: float) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def test_the_rule_ranks_what_the_examples_share_above_what_is_left_out():
    positives = np.stack([unit(1, 0.2, 0, 0), unit(1, -0.2, 0, 0.1), unit(1, 0, 0.2, 0)])
    negatives = np.stack([unit(0.6, 0.8, 0, 0)])
    rng = np.random.default_rng(0)
    background = rng.normal(size=(32, 4)).astype(np.float32)
    background /= np.linalg.norm(background, axis=1, keepdims=True)
    q = examples.combine(positives, negatives, background)
    assert abs(float(np.linalg.norm(q)) - 1) < 1e-5
    like_them, like_the_negative = unit(1, 0, 0, 0), unit(0.7, 0.7, 0, 0)
    assert q @ like_them > q @ like_the_negative
    without = examples.combine(positives, negatives[:0], background)
    assert (q @ like_the_negative) < (without @ like_the_negative)  # leaving out moves away
    # one example and nothing left out: the example itself
    assert np.allclose(examples.combine(positives[:1], negatives[:0], background), positives[0])
    copies = examples.near_copies(np.stack([unit(0.61, 0.79, 0, 0), like_them]), negatives)
    assert copies.tolist() == [True, False]


def gradient(width: int, height: int, hue: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, hue)], axis=-1))


def with_exif(image: Image.Image, path, taken: str | None, make: str = "", model: str = ""):
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    image.save(path, exif=exif)


@pytest.fixture
def shot_library(tmp_path):
    """Pictures with and without EXIF, of several sizes, formats and orientations."""
    folder = tmp_path / "shots"
    folder.mkdir()
    with_exif(gradient(800, 600, 10), folder / "canon_2024.jpg", "2024:06:30 12:00:00",
              "Canon", "Canon EOS 80D")  # fmt: skip
    with_exif(gradient(600, 800, 60), folder / "nikon_2023.jpg", "2023:01:15 09:30:00",
              "NIKON CORPORATION", "NIKON D750")  # fmt: skip
    with_exif(gradient(400, 400, 120), folder / "square_2024.jpg", "2024:12:01 18:00:00")
    gradient(1600, 1200, 200).save(folder / "big.png")
    gradient(300, 200, 250).save(folder / "small.webp")
    old = datetime(2020, 5, 1).timestamp()
    os.utime(folder / "big.png", (old, old))  # no EXIF: its modified time counts
    older = datetime(2022, 3, 1).timestamp()
    os.utime(folder / "small.webp", (older, older))
    library = Library(tmp_path / "library")
    index_folders([folder], library, PixelExtractor())
    yield library
    library.close()


def names(outcome) -> set[str]:
    return {r.item.filename for r in outcome.results}


def test_each_condition_alone_and_together(shot_library):
    searcher = Searcher(shot_library, PixelExtractor())
    item = shot_library.item_by_path(shot_library.folders()[0].path + "/canon_2024.jpg")
    everything = names(searcher.search(Query.item(item), SearchOptions(top_k=50)))
    assert len(everything) == 5

    def found(**kwargs) -> set[str]:
        return names(
            searcher.search(Query.item(item).where(Conditions(**kwargs)), SearchOptions(top_k=50))
        )

    assert found(taken_after=parse_date("2024-01-01")) == {"canon_2024.jpg", "square_2024.jpg"}
    before_2024 = found(taken_before=parse_date("2023-12-31", end=True))
    assert before_2024 == {"nikon_2023.jpg", "big.png", "small.webp"}
    assert found(
        taken_after=parse_date("2024-06-30"), taken_before=parse_date("2024-06-30", end=True)
    ) == {"canon_2024.jpg"}
    assert found(min_width=700) == {"canon_2024.jpg", "big.png"}
    assert found(min_height=700) == {"nikon_2023.jpg", "big.png"}
    assert found(min_megapixels=1.0) == {"big.png"}
    assert found(formats=parse_formats("png,webp")) == {"big.png", "small.webp"}
    assert found(formats=parse_formats("jpg")) == {
        "canon_2024.jpg",
        "nikon_2023.jpg",
        "square_2024.jpg",
    }
    assert found(orientation=Orientation.PORTRAIT) == {"nikon_2023.jpg"}
    assert found(orientation=Orientation.SQUARE) == {"square_2024.jpg"}
    assert found(orientation=Orientation.LANDSCAPE) == {"canon_2024.jpg", "big.png", "small.webp"}
    assert found(camera="eos") == {"canon_2024.jpg"}
    assert found(camera="Nikon D750") == {"nikon_2023.jpg"}
    small = os.path.getsize(shot_library.folders()[0].path + "/small.webp")
    assert found(max_bytes=small) == {"small.webp"}
    assert found(min_bytes=small + 1, formats=parse_formats("png")) == {"big.png"}
    assert found(orientation=Orientation.LANDSCAPE, taken_after=parse_date("2024-01-01")) == {
        "canon_2024.jpg"
    }
    assert found(camera="leica") == set()


def test_conditions_refuse_what_cannot_be_meant():
    for bad in ("2024-13-01", "yesterday", "01/02/2024"):
        with pytest.raises(ImageFinderError, match="YYYY-MM-DD"):
            parse_date(bad)
    with pytest.raises(ImageFinderError, match="jpeg, png"):
        parse_formats("jpeg,bmpx")
    with pytest.raises(ImageFinderError, match="landscape, portrait or square"):
        Orientation.named("diagonal")
    with pytest.raises(ImageFinderError, match="nothing can match"):
        Conditions(
            taken_after=parse_date("2024-02-01"), taken_before=parse_date("2024-01-01")
        ).check()


def test_an_existing_library_is_migrated_and_its_facts_read_without_the_model(
    shot_library, tmp_path
):
    folder = shot_library.folders()[0].path
    shot_library.close()
    db = sqlite3.connect(tmp_path / "library" / "library.sqlite3")
    with db:  # as a library of the previous version
        for column in ("taken_at", "format", "camera", "adapted"):
            db.execute(f"ALTER TABLE images DROP COLUMN {column}")
        db.execute("DROP TABLE concepts")
        db.execute("DROP TABLE adapter")
        db.execute("UPDATE meta SET value='5' WHERE key='schema_version'")
    db.close()

    class NoModel(PixelExtractor):
        def embed_tensors(self, batch, precision=None):
            raise AssertionError("nothing is embedded again")

    with Library(tmp_path / "library") as library:
        searcher = Searcher(library, PixelExtractor())
        item = library.item_by_path(folder + "/canon_2024.jpg")
        query = Query.item(item).where(Conditions(camera="canon"))
        assert names(searcher.search(query, SearchOptions(top_k=50))) == set()  # not read yet
        report = index_folders([folder], library, NoModel())
        assert report.embedded == 0
        assert names(searcher.search(query, SearchOptions(top_k=50))) == {"canon_2024.jpg"}


def test_filtered_results_are_the_top_k_of_the_matching_images(tmp_path):
    """IVF index, selective (2%) and broad (50%) conditions: the exact top-k among matches."""
    from tests.core.stores.test_library import fill

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3000, 12)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Library(tmp_path / "lib", ivf_min_vectors=500) as library, library.writing():
        ids = fill(library, vectors, tmp_path / "files")
        facts = [(i, "png" if n % 50 == 0 else "jpeg", 1e9 + n, "") for n, i in enumerate(ids)]
        library.side_data.set_facts(facts)
        library.vector_index.optimize()
        assert library.vector_index.info()["index_type"] == "IndexIVFFlat"
        searcher = Searcher(library, PixelExtractor(side=2))
        searcher.check = lambda: None  # the vectors are of no model
        cases = {
            Conditions(formats=frozenset({"png"})): [i for n, i in enumerate(ids) if n % 50 == 0],
            Conditions(taken_after=1e9 + 1500): ids[1500:],
        }
        for conditions, keep in cases.items():
            for item in library.items(ids[:20]).values():
                outcome = searcher.search(
                    Query.item(item).where(conditions), SearchOptions(top_k=10)
                )
                scores = library.vectors(keep) @ library.vectors([item.id])[0]
                truth = [keep[j] for j in np.argsort(-scores)[:10]]
                got = [r.item.id for r in outcome.results]
                assert set(got) <= set(keep)
                assert len(set(got) & set(truth)) >= (10 if conditions.formats else 9)


def test_three_examples_one_left_out_and_the_json_echoes_the_parts(photos, lite0, tmp_path):
    shutil.copy(photos / "coffee.jpg", photos / "coffee again.jpg")
    Image.open(photos / "coffee.jpg").resize((300, 200)).save(photos / "coffee small.png")
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)
        searcher = Searcher(library, lite0)
        like = [Query.file(photos / n) for n in ("chelsea.jpg", "astronaut.jpg", "camera.jpg")]
        query = Query.together(like).but_not(
            Query.item(library.item_by_path(photos / "coffee.jpg"))
        )
        outcome = searcher.search(query, SearchOptions(top_k=20))
        found = [r.item.filename for r in outcome.results]
        assert not {"coffee.jpg", "coffee again.jpg", "coffee small.png"} & set(found)
        assert {"chelsea.jpg", "astronaut.jpg", "camera.jpg"} <= set(found[:5])
        examples_found = [r for r in outcome.results if r.item.filename in found[:3]]
        assert all(r.match.value == "this image" for r in examples_found)
        data = outcome.to_json()
        assert data["parts"] == {
            "like": ["chelsea.jpg", "astronaut.jpg", "camera.jpg"],
            "unlike": ["coffee.jpg"],
        }
        assert data["query"] == "chelsea.jpg + 2 more, not 1"
        dated = query.where(Conditions(formats=frozenset({"png"})))
        only_png = searcher.search(dated, SearchOptions(top_k=20))
        assert [r.item.filename for r in only_png.results] == []  # the png is a near-copy
        assert only_png.to_json()["parts"]["conditions"] == {"formats": ["png"]}
