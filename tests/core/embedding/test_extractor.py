from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from image_finder.core.embedding import extractor as extractor_module
from image_finder.core.embedding.extractor import Extractor, resolve_device
from image_finder.core.embedding.models import ModelLoadError
from tests.conftest import skimage_photo


def test_bundled_model_knows_what_it_sees(lite0, photo_source):
    """Real ImageNet weights: two photos of one motorcycle are nearer each other than to a
    coffee cup, and two patches of grass nearer each other than to a brick wall."""
    grass = skimage_photo("grass")
    w, h = grass.size
    vectors = lite0.embed_images(
        [
            photo_source / "motorcycle_left.jpg",
            photo_source / "motorcycle_right.jpg",
            photo_source / "coffee.jpg",
            grass.crop((0, 0, w // 2, h // 2)),
            grass.crop((w // 2, h // 2, w, h)),
            photo_source / "brick.jpg",
        ]
    )
    assert vectors.shape == (6, 1280) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[1, 2] + 0.2
    assert sim[3, 4] > sim[3, 5] and sim[3, 4] > sim[4, 5]


def test_stream_reports_bad_items_and_keeps_going(lite0, photo_source, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    items = [photo_source / "coffee.jpg", bad, photo_source / "rocket.jpg"]
    batches = list(lite0.iter_embeddings(items, batch_size=2))
    ok = [i for b in batches for i in b.items]
    failed = [f.item for b in batches for f in b.failures]
    assert ok == [items[0], items[2]] and failed == [bad]
    assert sum(len(b.vectors) for b in batches) == 2


def test_stream_stops_when_cancelled(lite0, photo_source):
    items = sorted(photo_source.iterdir())
    batches = []
    for batch in lite0.iter_embeddings(items, batch_size=2, cancelled=lambda: len(batches) >= 1):
        batches.append(batch)
    assert len(batches) == 1


@pytest.fixture(scope="module")
def vit_weights(tmp_path_factory):
    """ViT-B/16 with random weights, saved as a local weights file."""
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch16_224", pretrained=False)
    path = tmp_path_factory.mktemp("weights") / "vit-random.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_vit_loads_from_a_local_weights_file(vit_weights, photo_source):
    vit = Extractor.load("vit_base_patch16_224", weights=str(vit_weights), device="cpu")
    assert (vit.name, vit.dim, vit.weights_source) == (
        "vit_base_patch16_224",
        768,
        str(vit_weights),
    )
    assert vit.notice is None
    assert vit.data_config["input_size"] == (3, 224, 224)
    v = vit.embed_images([photo_source / "coffee.jpg", photo_source / "coffee.jpg"])
    assert v.shape == (2, 768)
    assert float(v[0] @ v[1]) > 0.9999


def test_offline_first_run_falls_back_quickly_with_a_notice(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(extractor_module, "_hub_host", lambda: ("127.0.0.1", 9))  # refused
    started = time.perf_counter()
    loaded = Extractor.load("vit_base_patch16_224", device="cpu")
    assert time.perf_counter() - started < 20
    assert loaded.name == "efficientnet_lite0"
    assert "bundled" in loaded.notice and "weights file" in loaded.notice


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        Extractor.load("vit_base_patch16_224", weights=str(tmp_path / "none.pth"))
    with pytest.raises(ModelLoadError, match="unknown model"):
        Extractor.load("no_such_model")


def test_device_override_falls_back_to_cpu_with_a_notice():
    import torch

    assert resolve_device("cpu") == ("cpu", None)
    if not torch.cuda.is_available():
        device, notice = resolve_device("cuda")
        assert device == "cpu" and "CUDA" in notice
    with pytest.raises(ModelLoadError):
        resolve_device("tpu")


def test_core_never_imports_qt_and_imports_no_heavy_module_up_front():
    code = (
        "import sys, image_finder.core.indexing.indexer, image_finder.core.search.searcher, "
        "image_finder.core.config.settings, image_finder.cli\n"
        "heavy = ('PySide6', 'torch', 'timm', 'faiss')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_models_spec_prepares_pictures_as_its_timm_transform(lite0):
    """The spec's data config (known without torch: the Ray job's driver and decode tasks)
    is timm's for the architecture, and its Pillow steps are the transform's resize and crop."""
    import timm
    import timm.data

    from image_finder.core.embedding.models import MODELS
    from image_finder.core.indexing.scale_out import split_transform

    for spec in MODELS.values():
        model = timm.create_model(spec.arch, pretrained=False, num_classes=0)
        config = timm.data.resolve_data_config({}, model=model)
        data = spec.data
        assert config["input_size"] == (3, data.side, data.side), spec.name
        assert (config["crop_pct"], config["interpolation"]) == (data.crop_pct, data.interpolation)
        assert (tuple(config["mean"]), tuple(config["std"])) == (data.mean, data.std), spec.name
        transform = timm.data.create_transform(**config, is_training=False)
        assert split_transform(transform)[0] == data.picture_steps(), spec.name
    assert lite0.min_decode_size == MODELS["efficientnet_lite0"].data.min_decode_size
    assert split_transform(lite0.transform)[0] == MODELS["efficientnet_lite0"].data.picture_steps()


HEAP_PROBE = """
import resource, sys, threading
from image_finder.core.common.heap import keep_freed_blocks
if sys.argv[1] == "keep":
    assert keep_freed_blocks()
import torch
torch.set_num_threads(1)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 16, 1)).eval()
faults = []
def batches():  # activations of 25 MB, made and freed each batch
    x = torch.rand(16, 3, 224, 224)
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        with torch.inference_mode():
            net(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=batches)  # the desktop app, the server and Ray embed in threads
thread.start(); thread.join()
print(min(faults[1:]))  # the fewest of a batch, once the heap has grown
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_process_that_embeds_reuses_its_freed_blocks_instead_of_faulting_them_in_again():
    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", HEAP_PROBE, mode], capture_output=True,
                              text=True, check=True)  # fmt: skip
        return int(done.stdout)

    default = faults("default")
    if default < 1_000:  # glibc's thresholds on this machine already keep these blocks
        pytest.skip(f"the default heap faults only {default} pages a batch here: nothing to save")
    kept = faults("keep")
    assert kept < default / 10, (default, kept)  # measured in the same run
