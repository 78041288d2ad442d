"""Hash banks: PDQ hashes equal to Meta's reference hasher's; lists imported all or nothing,
deduplicated, exported; pictures matched by PDQ and by their vectors; nothing matched is
moved or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from image_finder.core.pictures.pdq import Pdq, distance, pdq_of
from tests.helpers import run
from tests.videos import photo

pytest.importorskip("pdqhash")

REFERENCE = Path(__file__).parents[2] / "data" / "pdq_reference.json"


def reference_photo(name: str) -> Image.Image:
    from skimage import data

    pixels = getattr(data, name)()
    if pixels.dtype != "uint8":
        pixels = (pixels > 0).astype("uint8") * 255
    return Image.fromarray(pixels).convert("RGB")


def test_hashes_equal_the_reference_hasher_s():
    expected = json.loads(REFERENCE.read_text())
    assert len(expected) >= 10
    for name, want in expected.items():
        found = pdq_of(reference_photo(name))
        assert (found.hex, found.quality) == (want["hash"], want["quality"]), name


def test_a_hash_survives_re_encoding_and_a_flat_picture_is_not_worth_matching(tmp_path):
    coffee = photo("coffee")
    coffee.resize((150, 100)).save(tmp_path / "small.jpg", quality=30)
    copy = pdq_of(Image.open(tmp_path / "small.jpg"))
    assert distance(copy.hash, pdq_of(coffee).hash) <= 31
    assert distance(pdq_of(photo("astronaut")).hash, pdq_of(coffee).hash) > 31
    assert not pdq_of(Image.new("RGB", (300, 200), (120, 130, 140))).matchable
    assert Pdq.from_blob(pdq_of(coffee).to_blob()) == pdq_of(coffee)


def bank_cli(capsys, data: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--data-dir", str(data), *args)


def test_a_list_imports_all_or_nothing_deduplicated_and_exports_back(tmp_path, capsys):
    data = tmp_path / "lib"
    coffee, astronaut = pdq_of(photo("coffee")).hex, pdq_of(photo("astronaut")).hex
    assert bank_cli(capsys, data, "bank", "create", "known")[0] == 0
    good = tmp_path / "list.csv"
    good.write_text(f"hash,label\n{coffee},coffee leak\n{astronaut},\n{coffee},again\n")
    code, out, err = bank_cli(capsys, data, "bank", "import", "known", str(good), "--json")
    assert code == 0, err
    assert json.loads(out) == {"bank": "known", "read": 3, "added": 2, "already": 1}

    bad = tmp_path / "bad.tsv"  # a third row cut short: nothing of this list goes in
    bad.write_text(f"{'ab' * 32}\tfirst\n{'cd' * 32}\tsecond\n{'ef' * 31}\tcut\n")
    code, _, err = bank_cli(capsys, data, "bank", "import", "known", str(bad))
    assert code == 1 and "line 3" in err
    code, out, _ = bank_cli(capsys, data, "bank", "list", "--json")
    assert [(b["name"], b["hashes"]) for b in json.loads(out)["banks"]] == [("known", 2)]

    exchange = tmp_path / "exchange.txt"  # the signal type first, as exports write it
    exchange.write_text(f"pdq {'ab' * 32} terror,propaganda\n# a comment\n\npdq {'cd' * 32}\n")
    code, out, _ = bank_cli(capsys, data, "bank", "import", "known", str(exchange), "--json")
    assert code == 0 and json.loads(out)["added"] == 2

    code, out, _ = bank_cli(capsys, data, "bank", "export", "known")
    rows = out.strip().splitlines()
    assert rows[0] == "hash,label" and len(rows) == 5
    assert f"{coffee},coffee leak" in rows and f'{"ab" * 32},"terror,propaganda"' in rows
    assert bank_cli(capsys, data, "bank", "create", "known")[0] == 1  # the name is taken
    code, _, err = bank_cli(capsys, data, "bank", "import", "nothing", str(good))
    assert code == 1 and "no bank named 'nothing'" in err


def test_copies_are_matched_by_pdq_and_by_their_vectors_and_left_untouched(tmp_path, capsys):
    data = tmp_path / "lib"
    known = tmp_path / "known"
    known.mkdir()
    photo("coffee").save(known / "coffee.jpg")
    photo("chelsea").save(known / "cat.jpg")
    hashes = tmp_path / "hashes.csv"
    hashes.write_text(f"{pdq_of(photo('rocket')).hex},leaked rocket\n"
                      f"{pdq_of(Image.new('RGB', (64, 64), 'grey')).hex},flat\n")  # fmt: skip
    for args in (("bank", "create", "leaks"), ("bank", "import", "leaks", str(hashes)),
                 ("bank", "create", "seized"), ("bank", "add", "seized", str(known),
                                                "--label", "case 7")):  # fmt: skip
        code, _, err = bank_cli(capsys, data, *args)
        assert code == 0, err

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    photo("rocket").resize((200, 320)).save(inbox / "rocket small.jpg", quality=40)
    cat = photo("chelsea")
    w, h = cat.size
    cat.crop((w // 5, h // 5, w, h)).save(inbox / "cat crop.jpg")  # a crop PDQ misses
    ImageEnhance.Brightness(photo("coffee")).enhance(1.3).save(inbox / "coffee bright.png")
    photo("astronaut").save(inbox / "astronaut.jpg")
    Image.new("RGB", (64, 64), "grey").save(inbox / "flat.png")  # a flat picture: no PDQ match
    (inbox / "broken.jpg").write_bytes(b"not a picture")
    before = {p.name: p.read_bytes() for p in inbox.iterdir()}

    code, out, err = bank_cli(capsys, data, "match", str(inbox), "--json")
    assert code == 3, err  # something matched
    found = [json.loads(line) for line in out.strip().splitlines()]
    by_file = {}
    for m in found:
        by_file.setdefault(Path(m["path"]).name, set()).add((m["bank"], m["signal"]))
    assert by_file["rocket small.jpg"] == {("leaks", "pdq")}
    assert ("seized", "vector") in by_file["cat crop.jpg"]
    assert ("seized", "pdq") not in by_file["cat crop.jpg"]
    assert by_file["coffee bright.png"] >= {("seized", "pdq"), ("seized", "vector")}
    assert "astronaut.jpg" not in by_file and "flat.png" not in by_file
    rocket = next(m for m in found if m["signal"] == "pdq" and m["bank"] == "leaks")
    assert rocket["label"] == "leaked rocket" and rocket["distance"] <= rocket["threshold"] == 31
    cat_match = next(m for m in found if m["path"].endswith("cat crop.jpg"))
    assert cat_match["label"] == "case 7" and cat_match["entry"] == "cat.jpg"
    assert "broken.jpg" in err
    assert {p.name: p.read_bytes() for p in inbox.iterdir()} == before  # nothing changed

    code, out, _ = bank_cli(capsys, data, "match", str(inbox / "astronaut.jpg"))
    assert code == 0 and out == ""
    code, out, _ = bank_cli(capsys, data, "match", str(inbox), "--bank", "leaks")
    assert code == 3 and out.splitlines() == [
        f"{inbox / 'rocket small.jpg'}: leaks “leaked rocket”, PDQ "
        f"{next(m['distance'] for m in found if m['signal'] == 'pdq' and m['bank'] == 'leaks')}"
        " bits ≤ 31"
    ]


def test_indexing_keeps_each_picture_s_and_moment_s_pdq_and_fills_an_earlier_library_s(
    tmp_path, lite0
):
    import sqlite3

    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library
    from tests.videos import slideshow

    media = tmp_path / "media"
    media.mkdir()
    photo("coffee").save(media / "coffee.jpg", quality=90)
    slideshow(media / "harbour.mp4", ("astronaut", "rocket"), seconds=2.0)
    with Library(tmp_path / "lib") as library:
        index_folders([media], library, lite0)
        ids = [int(i) for i in library.ids_under(str(media))]
        first = library.side_data.hashes(ids)
        items = library.items(ids)
    assert set(first) == set(ids) and len(ids) >= 3  # the photo and each moment
    coffee = next(i for i in ids if items[i].filename == "coffee.jpg")
    assert distance(Pdq.from_blob(first[coffee]).hash, pdq_of(photo("coffee")).hash) <= 8

    db = sqlite3.connect(tmp_path / "lib" / "library.sqlite3")
    with db:  # as a library of the previous version
        db.execute("ALTER TABLE images DROP COLUMN pdq")
        db.execute("UPDATE meta SET value='13' WHERE key='schema_version'")
    db.close()
    with Library(tmp_path / "lib") as library:
        assert library.side_data.hashes(ids) == {}
        report = index_folders([media], library, lite0)
        assert report.embedded == 0
        again = library.side_data.hashes(ids)
    assert set(again) == set(ids)
    assert distance(Pdq.from_blob(again[coffee]).hash, Pdq.from_blob(first[coffee]).hash) <= 4


def test_pictures_indexed_are_checked_against_watched_banks_and_recorded_once(tmp_path, capsys):
    data = tmp_path / "lib"
    known = tmp_path / "known"
    known.mkdir()
    photo("chelsea").save(known / "cat.jpg")
    hashes = tmp_path / "hashes.csv"
    hashes.write_text(f"{pdq_of(photo('rocket')).hex},leaked rocket\n")
    for args in (("bank", "create", "leaks", "--watch"), ("bank", "import", "leaks", str(hashes)),
                 ("bank", "create", "seized"), ("bank", "add", "seized", str(known))):  # fmt: skip
        code, _, err = bank_cli(capsys, data, *args)
        assert code == 0, err

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    photo("rocket").save(inbox / "rocket.jpg", quality=60)
    photo("chelsea").save(inbox / "cat.jpg")  # in a bank that is not watched
    photo("coffee").save(inbox / "coffee.jpg")
    code, out, err = bank_cli(capsys, data, "index", str(inbox), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [(Path(m["path"]).name, m["bank"], m["signal"], m["label"]) for m in report["matches"]
            ] == [("rocket.jpg", "leaks", "pdq", "leaked rocket")]  # fmt: skip
    assert report["matches"][0]["distance"] <= 31 and report["matches"][0]["decision"] is None

    photo("rocket").save(inbox / "rocket.jpg", quality=40)  # changed: embedded again
    photo("rocket").save(inbox / "rocket again.jpg", quality=50)  # a second copy
    code, out, err = bank_cli(capsys, data, "index", str(inbox), "--json")
    assert code == 0, err
    again = json.loads(out)["matches"]
    assert [Path(m["path"]).name for m in again] == ["rocket again.jpg"]  # once per picture
    code, out, _ = bank_cli(capsys, data, "index", str(inbox))
    assert code == 0 and "match" not in out
    code, out, err = bank_cli(capsys, data, "search", str(known / "cat.jpg"), "--json")
    # a bank's pictures are no items of the library: never found by search
    found = [r["path"] for r in json.loads(out)["results"]]
    assert code == 0 and found and not [p for p in found if p.startswith(str(known))]
    code, _, err = bank_cli(capsys, data, "bank", "add", "seized", str(inbox))
    assert code == 0 and f"lies in the library's folder {inbox}" in err  # said: they are


def test_videos_are_matched_whole_by_their_vpdq_hash(tmp_path, capsys):
    from image_finder.core.pictures import vpdq
    from tests.videos import slideshow

    data = tmp_path / "lib"
    known = slideshow(tmp_path / "known.mp4", ["coffee", "rocket", "chelsea"], seconds=2.0,
                      fps=10, size=(320, 180))  # fmt: skip
    frames = vpdq.video_hash(known)
    assert [round(f.seconds) for f in frames] == [0, 1, 2, 3, 4, 5]
    listed = tmp_path / "known-vpdq.txt"  # as the reference's vpdq tool writes it
    listed.write_text(vpdq.write(frames))
    as_hma = json.dumps([f"{f.pdq.hex},{f.pdq.quality},{f.seconds:.3f}" for f in frames])
    for text in (listed.read_text(), as_hma):
        assert [f.pdq for f in vpdq.parse(text)] == [f.pdq for f in frames]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    slideshow(inbox / "copy.webm", ["coffee", "rocket", "chelsea"], seconds=2.0, fps=10,
              size=(256, 144), codec="libvpx-vp9")  # re-encoded, smaller  # fmt: skip
    slideshow(inbox / "other.mp4", ["astronaut", "camera", "coins"], seconds=2.0, fps=10,
              size=(320, 180))  # fmt: skip
    for args in (("bank", "create", "clips"),
                 ("bank", "import", "clips", str(listed), "--label", "case 9")):  # fmt: skip
        code, out, err = bank_cli(capsys, data, *args)
        assert code == 0, err
    assert "Imported 1 videos" in out
    broken = tmp_path / "broken-vpdq.txt"
    broken.write_text(vpdq.write(frames).replace(frames[2].pdq.hex, "xyz"))
    code, _, err = bank_cli(capsys, data, "bank", "import", "clips", str(broken))
    assert code == 1 and "line 3" in err

    code, out, err = bank_cli(capsys, data, "match", str(inbox), "--json")
    assert code == 3, err
    whole = [json.loads(line) for line in out.splitlines() if '"vpdq"' in line]
    assert [(Path(m["path"]).name, m["label"], m["entry"]) for m in whole] == [
        ("copy.webm", "case 9", "known-vpdq")
    ]
    assert whole[0]["percent"] >= whole[0]["threshold"] == 80.0
    code, out, _ = bank_cli(capsys, data, "bank", "list", "--json")
    assert json.loads(out)["banks"][0]["videos"] == 1


def test_the_lookup_index_finds_every_hash_within_the_distance_and_none_beyond():
    import numpy as np

    from image_finder.core.banks.index import HashIndex

    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    queries = []
    for n, off in enumerate((0, 1, 15, 30, 31, 32, 40, 47, 48, 90)):  # planted copies
        bits = np.unpackbits(codes[n * 100])
        bits[rng.choice(256, off, replace=False)] ^= 1
        queries.append(np.packbits(bits))
    queries += list(rng.integers(0, 256, (5, 32), dtype=np.uint8))
    words = np.unpackbits(codes, axis=1).astype(np.int32)
    for radius in (31, 47):
        index = HashIndex(codes, radius)
        for query, hits in zip(queries, index.lookup(np.stack(queries)), strict=True):
            distances = (words != np.unpackbits(query)).sum(axis=1)
            want = sorted((int(distances[p]), int(p)) for p in np.flatnonzero(distances <= radius))
            assert [(h.distance, h.position) for h in hits] == want
    assert HashIndex(codes[:0], 31).lookup(codes[:2]) == [[], []]


def test_a_watched_bank_checks_a_near_miss_again_with_the_full_size_hash(tmp_path, capsys):
    """Indexing hashes a large JPEG as decoded for the model (at a fraction of its size); a
    list's hash made from the full-size picture, within 31 bits of that one but further from
    the reduced one, is still matched, at its full-size distance."""
    import numpy as np

    from image_finder.core.stores.library import Library

    data, inbox = tmp_path / "lib", tmp_path / "inbox"
    inbox.mkdir()
    photo("coffee").resize((2400, 1600)).save(inbox / "big.jpg", quality=90)
    assert bank_cli(capsys, data, "index", str(inbox))[0] == 0
    with Library(data) as library:
        kept = Pdq.from_blob(next(iter(library.side_data.hashes([1]).values())))
    full = pdq_of(Image.open(inbox / "big.jpg"))  # as match and the reference hash it
    bits = np.unpackbits(np.frombuffer(full.hash, np.uint8))
    differ = bits != np.unpackbits(np.frombuffer(kept.hash, np.uint8))
    d = int(differ.sum())
    assert 1 <= d <= 40, d  # the reduced picture's hash is some bits off
    k = min(31, 47 - d)  # flips where both hashes agree: k bits from full, k + d from kept
    flips = np.flatnonzero(~differ)[:k]
    bits[flips] ^= 1
    known = np.packbits(bits).tobytes()
    assert distance(known, full.hash) == k <= 31 < distance(known, kept.hash)
    (tmp_path / "list.csv").write_text(f"{known.hex()},near\n")
    for args in (("bank", "create", "leaks", "--watch"),
                 ("bank", "import", "leaks", str(tmp_path / "list.csv"))):  # fmt: skip
        assert bank_cli(capsys, data, *args)[0] == 0
    code, out, err = bank_cli(capsys, data, "index", str(inbox), "--json")
    assert code == 0, err
    assert [(m["label"], m["distance"]) for m in json.loads(out)["matches"]] == [("near", k)]
