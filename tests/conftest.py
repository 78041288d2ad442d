"""Shared fixtures. Every test runs with its own data, config, cache and log folders."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never reach for a model hub from the tests.
os.environ["HF_HUB_OFFLINE"] = "1"

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SKIMAGE_PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field",
    "immunohistochemistry", "retina", "grass", "gravel", "brick", "coins", "clock", "moon",
    "page", "horse",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    base = tmp_path_factory.mktemp("user")
    for var, sub in (
        ("IMAGE_FINDER_DATA_DIR", "data"),
        ("IMAGE_FINDER_CONFIG_DIR", "config"),
        ("IMAGE_FINDER_CACHE_DIR", "cache"),
        ("IMAGE_FINDER_LOG_DIR", "log"),
        ("HF_HOME", "hf"),
    ):
        monkeypatch.setenv(var, str(base / sub))
    yield


def skimage_photo(name: str) -> Image.Image:
    from skimage import data

    array = getattr(data, name)()
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return Image.fromarray(array).convert("RGB")


@pytest.fixture(scope="session")
def photo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos from skimage.data saved as JPEGs (read-only: copy before changing)."""
    folder = tmp_path_factory.mktemp("photos")
    for name in SKIMAGE_PHOTOS:
        skimage_photo(name).save(folder / f"{name}.jpg", quality=92)
    left, right = __import__("skimage.data", fromlist=["x"]).stereo_motorcycle()[:2]
    Image.fromarray(left).save(folder / "motorcycle_left.jpg", quality=92)
    Image.fromarray(right).save(folder / "motorcycle_right.jpg", quality=92)
    return folder


@pytest.fixture
def photos(photo_source: Path, tmp_path: Path) -> Path:
    """A fresh, writable copy of the photo folder."""
    target = tmp_path / "Pictures"
    shutil.copytree(photo_source, target)
    return target


@pytest.fixture(scope="session")
def lite0():
    """The bundled EfficientNet-Lite0 with its real ImageNet weights, loaded once."""
    from image_finder.core.embedding.extractor import Extractor

    return Extractor.load("efficientnet_lite0", device="cpu", precision="fp32")


@pytest.fixture
def library(tmp_path: Path):
    from image_finder.core.stores.library import Library

    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture
def xdg_trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A freedesktop.org trash of the test's own (send2trash reads its place at import)."""
    from send2trash import plat_other

    data = tmp_path / "xdg"
    data.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(data))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(data / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data / "Trash"))
    return data / "Trash"


def _tiny_clip_spec():
    from image_finder.core.embedding.clip import ClipSpec

    return ClipSpec("clip_tiny_test", "tiny-test-clip", "", 32, "Tiny test CLIP")


TINY_CLIP = _tiny_clip_spec()


@pytest.fixture(scope="session")
def tiny_clip_weights(tmp_path_factory) -> str:
    open_clip = pytest.importorskip("open_clip")
    import torch

    folder = tmp_path_factory.mktemp("clip")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                     "layers": 2},
    }  # fmt: skip
    (folder / "tiny-test-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / "tiny-test-clip.json")
    torch.manual_seed(0)
    weights = folder / "tiny-test-clip.pt"
    torch.save(open_clip.create_model("tiny-test-clip").state_dict(), weights)
    return str(weights)


@pytest.fixture
def tiny_clip(tiny_clip_weights, monkeypatch):
    """A tiny randomly initialised open_clip model, known to the app by TINY_CLIP's name."""
    from image_finder.core.embedding import clip

    monkeypatch.setitem(clip.CLIP_MODELS, TINY_CLIP.name, TINY_CLIP)
    return clip.ClipExtractor.load_clip(TINY_CLIP.name, weights=tiny_clip_weights, device="cpu")


@pytest.fixture
def indexed(photos, capsys, tmp_path):
    """A library of the photos, indexed by the command line: (its folder, the photos)."""
    from tests.helpers import run

    data = str(tmp_path / "lib")
    code, _, err = run(
        capsys, "--data-dir", data, "index", str(photos), "--model", "efficientnet_lite0"
    )
    assert code == 0, err
    return data, photos


CT_SERIES = "1.2.826.0.1.3680043.8.498.10"


@pytest.fixture
def medical(tmp_path: Path) -> Path:
    """An archive: a CT series of 3 slices, an MR file without an extension, a multi-frame
    file, a plan without pixels, a 3-page TIFF fax; each DICOM file names a planted patient."""
    import shutil

    import numpy as np
    from pydicom.data import get_testdata_file

    from tests import dicoms
    from tests.videos import photo

    media = tmp_path / "archive"
    (media / "ct").mkdir(parents=True)
    for n, name in enumerate(("camera", "moon", "coins"), start=1):  # one CT series, 3 slices
        dicoms.write(media / "ct" / f"slice{n}.dcm", dicoms.values(name), instance=n,
                     series_uid=CT_SERIES, series="Axial chest 5mm")  # fmt: skip
    dicoms.write(media / "IM000004", dicoms.values("astronaut"), modality="MR",
                 body_part="HEAD", series="T1 sagittal", series_uid="1.2.3.4.5")  # fmt: skip
    stack = np.stack([dicoms.values(n) for n in ("rocket", "coffee")])
    dicoms.write(media / "cine.dcm", stack, modality="XA", body_part="HEART",
                 series="Cine run", series_uid="1.2.3.4.6")  # fmt: skip
    shutil.copy(get_testdata_file("rtplan.dcm", download=False), media / "plan.dcm")
    pages = [
        photo(n).convert("L") for n in ("chelsea", "hubble_deep_field", "immunohistochemistry")
    ]
    pages[0].save(media / "fax.tiff", save_all=True, append_images=pages[1:])
    return media
