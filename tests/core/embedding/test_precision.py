"""Precision ``auto``: the check on the user's photos, its record in the library, overrides."""

from __future__ import annotations

import json

import numpy as np
import pytest

from image_finder.core.embedding import precision
from image_finder.core.embedding.extractor import Extractor, resolve_precision
from image_finder.core.embedding.models import ModelLoadError
from image_finder.core.indexing.indexer import IndexPhase, index_folders
from image_finder.core.search.searcher import Query, Searcher
from image_finder.core.stores.library import Library


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_ranking_agreement_on_hand_made_vectors():
    rng = np.random.default_rng(0)
    reference = unit(rng.normal(size=(30, 64)))
    assert precision.ranking_agreement(reference, reference) == pytest.approx((1.0, 1.0))
    slightly = unit(reference + rng.normal(scale=0.005, size=reference.shape))
    cosine, overlap = precision.ranking_agreement(reference, slightly)
    assert cosine > 0.999 and overlap > 0.9
    shuffled = reference[rng.permutation(30)]
    cosine, overlap = precision.ranking_agreement(reference, shuffled)
    assert cosine < 0.5 and overlap < 0.6


def test_only_a_faster_precision_that_keeps_the_rankings_is_chosen():
    rng = np.random.default_rng(1)
    reference = unit(rng.normal(size=(24, 64)))
    close = unit(reference + rng.normal(scale=0.003, size=reference.shape))
    far = unit(reference + rng.normal(scale=0.3, size=reference.shape))

    base = precision.Trial("fp32", 10.0)
    broken = precision.judge("bf16", reference, far, rate=40.0, base_rate=10.0)
    assert not broken.kept and "cosine" in broken.why
    one_off = close.copy()
    one_off[0] = unit((reference[0] + 0.33 * unit(rng.normal(size=(1, 64)))[0])[None, :])[0]
    drifting = precision.judge("bf16", reference, one_off, rate=40.0, base_rate=10.0)
    assert drifting.mean_cosine >= precision.MIN_MEAN_COSINE
    assert not drifting.kept and "one photo's cosine" in drifting.why
    slow = precision.judge("int8", reference, close, rate=11.0, base_rate=10.0)
    assert not slow.kept and "as fast" in slow.why
    outcome = precision.decide([base, broken, slow], 24, "cpu:bf16+int8")
    assert outcome.chosen == "fp32" and "bf16: cosine" in outcome.reason

    fast = precision.judge("int8", reference, close, rate=30.0, base_rate=10.0)
    good_bf16 = precision.judge("bf16", reference, close, rate=20.0, base_rate=10.0)
    outcome = precision.decide([base, good_bf16, fast], 24, "cpu:bf16+int8")
    assert outcome.chosen == "int8" and "3.0x as fast" in outcome.reason

    again = precision.PrecisionCheck.from_json(outcome.to_json())
    assert again == outcome
    assert precision.PrecisionCheck.from_json("{not json") is None


def test_hiding_native_bf16_leaves_int8(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert precision.native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert not precision.native_bf16()
    expected = ["int8"] if precision.int8_engine() else []
    assert precision.candidates("cpu") == expected
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert "bf16" not in precision.candidates("cpu")


def test_an_explicit_precision_is_used_as_asked():
    assert resolve_precision("bf16", "cpu") == ("bf16", "chosen in the settings")
    with pytest.raises(ModelLoadError, match="CPU only"):
        resolve_precision("int8", "cuda")
    with pytest.raises(ModelLoadError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


def _auto_lite0() -> Extractor:
    return Extractor.load("efficientnet_lite0", device="cpu", precision="auto")


def test_int8_runs_the_linear_layers_in_int8():
    import timm
    import torch

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
    quantized = precision.quantize_int8(model)
    linear = [type(m) for m in quantized.modules() if type(m).__name__ == "Linear"]
    assert linear and all("quantized.dynamic" in kind.__module__ for kind in linear)
    x = torch.randn(4, 3, 224, 224)
    with torch.inference_mode():
        a = torch.nn.functional.normalize(model.eval()(x), dim=-1)
        b = torch.nn.functional.normalize(quantized(x), dim=-1)
    assert float((a * b).sum(-1).mean()) > 0.99


def test_the_first_indexing_run_checks_records_and_is_followed(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "candidates", lambda device: ["int8"])
    monkeypatch.setattr(precision, "MIN_SPEEDUP", 0.0)  # speed is the machine's, not tested
    extractor = _auto_lite0()
    assert extractor.precision == "fp32" and "first indexing run" in extractor.precision_reason
    phases = []
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, extractor, progress=lambda p: phases.append(p.phase))
        assert IndexPhase.CHECKING in phases
        record = precision.recorded(library)
        assert record is not None and record.chosen == "int8" and record.images >= 12
        assert [t.precision for t in record.trials] == ["fp32", "int8"]
        # EfficientNet-Lite0 has no linear layer after its classifier is removed: int8 keeps
        # its vectors exactly, which the check measured
        assert record.trials[1].mean_cosine == pytest.approx(1.0, abs=1e-5)
        assert extractor.precision == "int8" and "auto:" in extractor.precision_reason
        thread_copy = extractor.for_thread()
        assert thread_copy.precision == "int8"

    # a later session loads the model again: the library's record is used, no new check
    fresh = _auto_lite0()
    with Library(tmp_path / "lib") as library:
        Searcher(library, fresh).search(Query.file(photos / "coffee.jpg"))
        assert fresh.precision == "int8"
        phases.clear()
        (photos / "copy.jpg").write_bytes((photos / "coffee.jpg").read_bytes())
        index_folders([photos], library, fresh, progress=lambda p: phases.append(p.phase))
        assert IndexPhase.CHECKING not in phases


def test_a_failed_check_keeps_fp32_and_no_other_vectors_are_written(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "candidates", lambda device: ["bf16"])
    monkeypatch.setattr(precision, "MIN_MEAN_COSINE", 1.5)  # nothing can pass
    extractor = _auto_lite0()
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, extractor)
        record = precision.recorded(library)
        assert record is not None and record.chosen == "fp32"
        assert "bf16: cosine" in record.reason
        assert extractor.precision == "fp32"
        item = library.item_by_path(photos / "coffee.jpg")
        assert item is not None
        stored = library.vectors([item.id])[0]
    expected = extractor.embed_images([photos / "coffee.jpg"])[0]
    assert float(stored @ expected) > 0.99999


def test_too_few_photos_index_in_fp32_and_check_later(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "candidates", lambda device: ["bf16"])
    few = tmp_path / "few"
    few.mkdir()
    for path in sorted(photos.iterdir())[:3]:
        (few / path.name).write_bytes(path.read_bytes())
    extractor = _auto_lite0()
    with Library(tmp_path / "lib") as library:
        index_folders([few], library, extractor)
        assert precision.recorded(library) is None and extractor.precision == "fp32"


def test_status_and_the_option_say_which_precision(photos, tmp_path, capsys, monkeypatch):
    from image_finder.cli import main

    monkeypatch.setattr(precision, "candidates", lambda device: ["int8"])
    monkeypatch.setattr(precision, "MIN_SPEEDUP", 0.0)
    data = str(tmp_path / "lib")
    assert main(["--data-dir", data, "index", str(photos), "--model", "efficientnet_lite0"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["precision"] == "int8" and "cosine to fp32" in status["precision_reason"]
    assert main(["--data-dir", data, "status"]) == 0
    assert "Precision:    int8 (auto:" in capsys.readouterr().out
    code = main(["--data-dir", data, "search", str(photos / "coffee.jpg"), "--precision", "fp8"])
    assert code == 1 and "unknown precision 'fp8'" in capsys.readouterr().err


def test_a_bad_file_among_the_checked_photos_is_reported_and_the_rest_indexed(
    photos, tmp_path, monkeypatch
):
    monkeypatch.setattr(precision, "candidates", lambda device: ["int8"])
    monkeypatch.setattr(precision, "MIN_SPEEDUP", 0.0)
    folder = tmp_path / "some"
    folder.mkdir()
    for path in sorted(photos.iterdir())[:13]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with Library(tmp_path / "lib") as library:
        report = index_folders([folder], library, _auto_lite0())
        assert precision.recorded(library) is not None  # the check ran on these photos
        assert report.added == 13 and library.count() == 13
        assert [s.path for s in report.skipped] == [str(folder / "broken.jpg")]


def test_one_new_photo_in_an_older_library_is_checked_with_the_library_s_photos(
    photos, tmp_path, monkeypatch, lite0
):
    """A library indexed before precisions were checked (fp32, no record) that grows a photo
    at a time still gets its check: its own photos make up the batch."""
    monkeypatch.setattr(precision, "candidates", lambda device: ["int8"])
    monkeypatch.setattr(precision, "MIN_SPEEDUP", 0.0)
    with Library(tmp_path / "lib") as library:
        index_folders([photos], library, lite0)  # fp32, as asked: no check, no record
        assert precision.recorded(library) is None
        from PIL import Image, ImageOps

        ImageOps.mirror(Image.open(photos / "coffee.jpg")).save(photos / "new.jpg")
        extractor = _auto_lite0()
        phases = []
        report = index_folders([photos], library, extractor, lambda p: phases.append(p.phase))
        assert IndexPhase.CHECKING in phases and report.added == 1
        record = precision.recorded(library)
        assert record is not None and record.images == precision.CHECK_IMAGES
        assert library.item_by_path(photos / "new.jpg") is not None
