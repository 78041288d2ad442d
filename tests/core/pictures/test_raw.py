"""Camera RAW files: real DNGs written from a Bayer mosaic with pidng, read through the one
decoder (rawpy), and found as the same picture as their JPEG sibling."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from image_finder.core.indexing.indexer import index_folders
from image_finder.core.pictures.images import is_image_name, load_image
from image_finder.core.search.searcher import MatchKind, Query, Searcher, SearchOptions
from tests.conftest import skimage_photo

# The camera's colour space is linear sRGB: its matrix from CIE XYZ (D65), in 1/10000ths.
XYZ_TO_SRGB = [[n, 10_000] for n in (32406, -15372, -4986, -9689, 18758, 415, 557, -2040, 10570)]


def bayer_mosaic(picture: Image.Image) -> np.ndarray:
    """``picture`` as a sensor records it: linear light, an RGGB Bayer mosaic, 12 bits."""
    srgb = np.asarray(picture.convert("RGB"), np.float64) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4) * 4095
    h, w = (linear.shape[0] // 2) * 2, (linear.shape[1] // 2) * 2
    mosaic = np.zeros((h, w), np.uint16)
    mosaic[0::2, 0::2] = linear[0:h:2, 0:w:2, 0]
    mosaic[0::2, 1::2] = linear[0:h:2, 1:w:2, 1]
    mosaic[1::2, 0::2] = linear[1:h:2, 0:w:2, 1]
    mosaic[1::2, 1::2] = linear[1:h:2, 1:w:2, 2]
    return mosaic


def write_dng(picture: Image.Image, path) -> None:
    """``picture`` as a camera would record it: linear light, an RGGB Bayer mosaic, 12 bits."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        Orientation,
        PhotometricInterpretation,
        PreviewColorSpace,
    )

    mosaic = bayer_mosaic(picture)
    h, w = mosaic.shape
    tags = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
        (Tag.Orientation, Orientation.Horizontal),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB), (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
        (Tag.ColorMatrix1, XYZ_TO_SRGB),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.BaselineExposure, [[0, 100]]),
        (Tag.Make, "Image Finder"), (Tag.Model, "Bayer test"),
        (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2),
        (Tag.PreviewColorSpace, PreviewColorSpace.sRGB),
    ):  # fmt: skip
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    writer.convert(mosaic, filename=str(path.with_suffix("")))


def test_a_dng_decodes_to_its_picture(tmp_path):
    picture = skimage_photo("coffee")
    write_dng(picture, tmp_path / "coffee.dng")
    assert is_image_name("IMG_0001.CR3") and is_image_name("coffee.dng")
    decoded = load_image(tmp_path / "coffee.dng")
    assert decoded.mode == "RGB" and decoded.size == (300, 200)  # half-size demosaic
    expected = np.asarray(picture.resize(decoded.size), np.float64)
    error = np.abs(np.asarray(decoded, np.float64) - expected).mean()
    assert error < 25  # the same picture, within demosaicing and rounding


def write_dng_with_preview(picture: Image.Image, preview: Image.Image, path) -> None:
    """A DNG laid out as cameras and converters write them: the preview in the first IFD, the
    Bayer mosaic (of ``picture``) in its SubIFD. Written with tifffile."""
    import tifffile

    mosaic = bayer_mosaic(picture)
    matrix = [n for pair in XYZ_TO_SRGB for n in pair]
    first = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 2, 0, 0), True),  # DNGBackwardVersion
        (271, "s", 0, "Image Finder", True),  # Make
        (272, "s", 0, "Preview test", True),  # Model
        (50708, "s", 0, "Image Finder Preview test", True),  # UniqueCameraModel
        (50721, "2i", 9, matrix, True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, [1, 1, 1, 1, 1, 1], True),  # AsShotNeutral
    ]
    mosaic_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, 4095, True),  # WhiteLevel
    ]
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(np.asarray(preview.convert("RGB")), photometric="rgb", subfiletype=1,
                   subifds=1, extratags=first)  # fmt: skip
        tiff.write(mosaic, photometric=32803, subfiletype=0, extratags=mosaic_tags)  # CFA


def test_the_camera_preview_is_used_where_the_file_has_one(tmp_path):
    picture = skimage_photo("chelsea")
    # a preview the camera rendered in its own colours: warmer than the raw data
    warm = np.asarray(picture, np.float64) * [1.0, 0.9, 0.7]
    preview = Image.fromarray(warm.astype(np.uint8))
    write_dng_with_preview(picture, preview, tmp_path / "chelsea.dng")
    decoded = load_image(tmp_path / "chelsea.dng")
    assert decoded.size == picture.size  # the full-size preview, not a half-size demosaic
    error = np.abs(np.asarray(decoded, np.float64) - np.asarray(preview, np.float64)).mean()
    assert error < 1  # its pixels, as the camera wrote them


def test_a_damaged_raw_file_is_skipped_with_a_reason(tmp_path):
    from image_finder.core.common.errors import ImageLoadError

    (tmp_path / "broken.nef").write_bytes(b"II*\x00" + b"\x00" * 500)
    with pytest.raises(ImageLoadError, match="RAW"):
        load_image(tmp_path / "broken.nef")


def test_a_raw_and_its_jpeg_sibling_are_the_same_picture(photos, library, lite0):
    for name in ("coffee", "chelsea", "rocket"):
        write_dng(skimage_photo(name), photos / f"{name}.dng")
    report = index_folders([photos], library, lite0)
    assert not report.skipped
    searcher = Searcher(library, lite0)
    for name in ("coffee", "chelsea", "rocket"):
        results = searcher.search(Query.file(photos / f"{name}.jpg"), SearchOptions(top_k=3))
        sibling = next(r for r in results.results if r.path.endswith(f"{name}.dng"))
        assert sibling.rank == 2 and sibling.match is MatchKind.SAME_PICTURE, (name, sibling)
