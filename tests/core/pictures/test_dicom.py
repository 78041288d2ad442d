"""DICOM files as pictures: every transfer syntax supported decodes to the picture a viewer
shows (rescaled, windowed, MONOCHROME1 inverted), frames are parts, and files without an image
are refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.pictures import dicom
from image_finder.core.pictures.images import image_size, load_image
from tests import dicoms

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402


def grey(image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image.convert("L"), np.float64)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def pydicom_file(name: str) -> str:
    return str(get_testdata_file(name, download=False))


@pytest.mark.parametrize("syntax", dicoms.SYNTAXES)
def test_each_transfer_syntax_written_from_a_photo_decodes_to_it(tmp_path, syntax):
    source = dicoms.values("camera")
    pixels = (source >> 4).astype(np.uint8) if syntax == "jpeg" else source  # JPEG: 8 bits
    path = dicoms.write(tmp_path / f"{syntax}.dcm", pixels, syntax=syntax)
    shown = grey(load_image(path))
    assert shown.shape == (128, 128) and image_size(str(path)) == (128, 128)
    assert correlation(shown, source.astype(np.float64)) > (0.98 if syntax == "jpeg" else 0.995)
    assert shown.min() <= 2 and shown.max() >= 250  # the robust window spreads the range


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",  # explicit VR little endian, 16 bits
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
    ],
)
def test_one_scan_in_every_syntax_gives_the_same_picture(name):
    reference = grey(dicom.picture(pydicom_file("MR_small.dcm")))
    assert np.array_equal(grey(dicom.picture(pydicom_file(name))), reference)


@pytest.mark.parametrize(
    "name",
    [
        "JPGExtended.dcm",  # JPEG extended (12 bits)
        "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless (process 14), RGB
        "SC_rgb_dcmtk_+eb+cy+np.dcm",  # JPEG baseline, YBR_FULL_422
        "JPEGLSNearLossless_16.dcm",  # JPEG-LS near-lossless
        "JPEG2000.dcm",  # JPEG 2000
        "SC_rgb_rle_2frame.dcm",  # RLE, RGB, 2 frames
    ],
)
def test_compressed_files_of_other_writers_decode(name):
    path = pydicom_file(name)
    found = list(dicom.frames(path))
    assert [n for n, _ in found] == list(range(1, dicom.read_facts(path).frames + 1))
    image = found[0][1]
    assert image.mode == "RGB" and np.asarray(image).std() > 5  # a picture, not a flat field


def test_the_file_s_window_is_applied_as_pydicom_applies_it(tmp_path):
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = dicoms.values("camera")  # 0..4095, shown through a CT's rescale and window
    path = dicoms.write(tmp_path / "ct.dcm", values, window=(40.0, 400.0), rescale=(1.0, -1024.0))
    shown = grey(dicom.picture(str(path)))
    ds = pydicom.dcmread(path)
    windowed = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    low, high = -1024.0, 4095.0 - 1024.0  # the output range pydicom maps the window into
    expected = np.clip(np.round((windowed - low) * 255.0 / (high - low)), 0, 255)
    assert np.abs(shown - expected).max() <= 1
    hu = values.astype(np.float64) - 1024.0
    assert shown[hu <= 40 - 200].max() == 0 and shown[hu >= 40 + 200].min() == 255


def test_monochrome1_is_inverted(tmp_path):
    values = dicoms.values("camera")
    normal = grey(dicom.picture(str(dicoms.write(tmp_path / "m2.dcm", values))))
    inverted = grey(
        dicom.picture(str(dicoms.write(tmp_path / "m1.dcm", values, photometric="MONOCHROME1")))
    )
    assert np.abs(normal + inverted - 255).max() <= 1


def test_a_multi_frame_file_gives_each_frame_and_one_on_demand(tmp_path):
    stack = np.stack([dicoms.values(n) for n in ("camera", "moon", "coins")])
    path = str(dicoms.write(tmp_path / "stack.dcm", stack))
    assert dicom.frame_count(path) == 3
    frames = dict(dicom.frames(path))
    assert list(frames) == [1, 2, 3]
    assert np.array_equal(grey(dicom.picture(path, 2)), grey(frames[2]))
    assert correlation(grey(frames[3]), stack[2].astype(np.float64)) > 0.99
    with pytest.raises(ImageLoadError, match="no frame 4"):
        dicom.picture(path, 4)


def test_files_without_an_image_or_that_cannot_be_decoded_say_why(tmp_path):
    with pytest.raises(ImageLoadError, match="no image in it"):
        dicom.picture(pydicom_file("rtplan.dcm"))  # a plan: no pixel data
    with pytest.raises(ImageLoadError, match="cannot be decoded"):
        dicom.picture(pydicom_file("MR_truncated.dcm"))
    (tmp_path / "not.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 50)
    with pytest.raises(ImageLoadError):
        load_image(tmp_path / "not.dcm")
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(ImageLoadError, match="an empty file"):
        load_image(tmp_path / "empty.dcm")


def test_a_file_without_an_extension_is_recognised_by_its_preamble(tmp_path):
    path = dicoms.write(tmp_path / "IM000123", dicoms.values("moon"))
    assert dicom.is_dicom(str(path)) and load_image(path).size == (128, 128)
    assert load_image(path.read_bytes()).size == (128, 128)  # an upload: bytes
    (tmp_path / "notes").write_bytes(b"plain words " * 20)
    assert not dicom.is_dicom(str(tmp_path / "notes"))


def test_facts_name_the_scan_and_never_the_patient(tmp_path):
    path = dicoms.write(tmp_path / "a.dcm", dicoms.values(), modality="MR", body_part="HEAD",
                        series="T1 sagittal", instance=7)  # fmt: skip
    facts = dicom.read_facts(str(path))
    assert (facts.modality, facts.body_part, facts.series, facts.instance) == (
        "MR", "HEAD", "T1 sagittal", 7
    )  # fmt: skip
    assert facts.study_date is not None
    text = repr(facts)
    assert not any(planted in text for planted in dicoms.IDENTIFIERS)
