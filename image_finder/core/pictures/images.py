"""Open any image file safely and return an RGB Pillow image.

One function, :func:`load_image`, is used for indexing, queries and thumbnails. It applies EXIF
orientation, flattens transparency onto white, converts every colour mode to 8-bit RGB, decodes
large JPEGs at a reduced size when the caller only needs a small image (JPEG draft mode), and
turns every failure into :class:`ImageLoadError` carrying a reason a user can read.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from image_finder.core.common.errors import ImageLoadError

log = logging.getLogger(__name__)

# Pillow refuses images above twice this many pixels (DecompressionBombError). 179 megapixels
# lets every camera photo through (100 MP medium format included) and stops decompression bombs.
MAX_PIXELS = 2 * 89_478_485
NOT_AN_IMAGE = "not an image, or a format that cannot be read"

# HEIC/HEIF (phones) through pillow-heif; AVIF is decoded by Pillow itself (>= 11.2) or by the
# same plugin. Without the plugin those files are skipped with a reason like any other.
try:
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - the plugin is a declared dependency
    HEIF_SUPPORTED = False

# Camera RAW files, decoded with rawpy (LibRaw): the embedded preview where the camera wrote one
# (a full-size JPEG on most cameras: fast, and the colours the camera chose), else a half-size
# demosaic.
PREVIEW_MIN_SIDE = 1000  # px: a preview this large (or half the sensor's size) is used
RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".orf", ".rw2", ".raf", ".pef")

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".gif", ".bmp", ".dib",
        ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2", ".j2k",
        ".heic", ".heif", ".avif", ".hif",
    }
) | frozenset(RAW_EXTENSIONS)  # fmt: skip

ImageSource = str | os.PathLike[str] | bytes | BinaryIO | Image.Image

# Set once for the process (catch_warnings is not thread-safe and decoding runs in threads):
# over MAX_PIXELS / 2 Pillow only warns, and the hard limit it raises at is what we enforce;
# its warnings about damaged metadata would only clutter a terminal.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


def is_raw_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fsdecode(name))[1].lower() in RAW_EXTENSIONS


def is_image_name(name: str) -> bool:
    """True when the file name has an extension Image Finder indexes."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def describe_source(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    if isinstance(source, Image.Image):
        return "<image>"
    return "<clipboard image>" if isinstance(source, bytes) else "<stream>"


def load_image(
    source: ImageSource, min_size: int | None = None, *, raw: bool | None = None
) -> Image.Image:
    """Decode ``source`` into an RGB image, upright as the camera meant it.

    ``min_size``: when given, JPEGs are decoded at the smallest 1/2, 1/4 or 1/8 scale whose
    shorter side is still at least this many pixels (much faster for large photos).

    Raises :class:`ImageLoadError` for anything that is not a readable image.
    """
    name = describe_source(source)
    if isinstance(source, Image.Image):
        return to_rgb(_upright(source.copy(), name), name)
    if raw or (raw is None and isinstance(source, (str, os.PathLike)) and is_raw_name(source)):
        return load_raw(source, name)
    if isinstance(source, (str, os.PathLike, bytes)) and _dicom(source):  # a medical image: its
        from image_finder.core.pictures import dicom  # first frame, windowed (pictures/dicom.py)

        return dicom.picture(source if isinstance(source, bytes) else os.fspath(source))
    try:
        with Image.open(_openable(source, name)) as im:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animated GIF/WebP/PNG: the first frame stands for the file
            if min_size and im.format == "JPEG":
                im.draft("RGB", (min_size, min_size))
            im.load()
            image = _upright(im, name)
            return to_rgb(image, name)
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(name, _decode_reason(exc, name)) from exc


def _dicom(source: ImageSource) -> bool:
    if isinstance(source, bytes):
        return source[128:132] == b"DICM"
    if isinstance(source, (str, os.PathLike)):
        from image_finder.core.pictures import dicom

        return dicom.is_dicom(source)
    return False


def load_raw(source: ImageSource, name: str = "<raw>") -> Image.Image:
    """A camera RAW file as an RGB image: its embedded preview, else a half-size demosaic."""
    try:
        import rawpy
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImageLoadError(name, "RAW files need the rawpy package") from exc
    data = _openable(source, name)
    stream = data if isinstance(data, io.BytesIO) else io.BytesIO(_read_all(data))
    try:
        with rawpy.imread(stream) as raw:
            image = _raw_preview(raw)
            if image is None:
                pixels = raw.postprocess(
                    half_size=True, use_camera_wb=True, no_auto_bright=True, output_bps=8
                )
                image = Image.fromarray(pixels)
    except ImageLoadError:
        raise
    except Exception as exc:  # LibRaw raises its own types for damaged or unknown files
        raise ImageLoadError(name, f"not a RAW file that can be read ({exc})") from exc
    return to_rgb(image, name)


def _read_all(data: str | os.PathLike[str] | BinaryIO) -> bytes:
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            return f.read()
    return data.read()


_RAW_FLIPS = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.ROTATE_90,
    6: Image.Transpose.ROTATE_270,
}


def _raw_preview(raw: object) -> Image.Image | None:
    """The camera's own preview if it has one of useful size, turned upright."""
    import rawpy

    try:
        thumb = raw.extract_thumb()  # type: ignore[attr-defined]
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    image: Image.Image
    if thumb.format == rawpy.ThumbFormat.JPEG:
        image = Image.open(io.BytesIO(thumb.data))
        image.load()
    else:
        image = Image.fromarray(thumb.data)
    sensor = max(raw.sizes.width, raw.sizes.height)  # type: ignore[attr-defined]
    if max(image.size) < min(PREVIEW_MIN_SIDE, sensor // 2):
        return None  # smaller than the half-size demosaic would be: demosaic instead
    flip = _RAW_FLIPS.get(raw.sizes.flip)  # type: ignore[attr-defined]
    return image.transpose(flip) if flip is not None else image


def _openable(source: ImageSource, name: str) -> str | os.PathLike[str] | BinaryIO:
    """What Image.open takes; an empty file or empty data is refused at once."""
    if isinstance(source, (str, os.PathLike)):
        try:
            if os.path.getsize(source) == 0:
                raise ImageLoadError(name, "empty file (0 bytes)")
        except OSError as exc:
            raise ImageLoadError(name, _os_reason(exc)) from exc
        return source
    if isinstance(source, bytes):
        if not source:
            raise ImageLoadError(name, "empty image data")
        return io.BytesIO(source)
    return source  # type: ignore[return-value]  # a stream (PIL images are handled before)


def _decode_reason(exc: Exception, name: str) -> str:
    """Why a file could not be decoded, in words a user understands."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"image too large to open safely ({exc})"
    if isinstance(exc, UnidentifiedImageError):
        return NOT_AN_IMAGE
    if isinstance(exc, OSError):
        return _os_reason(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    # Pillow plugins raise many types on malformed data
    log.debug("unexpected decoder error for %s", name, exc_info=True)
    return f"damaged image ({type(exc).__name__}: {exc})"


def _os_reason(exc: OSError) -> str:
    text = str(exc)
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image"
    if "truncated" in text:
        return "truncated or incomplete image"
    return f"damaged image ({text})" if text else "damaged image"


def _upright(im: Image.Image, name: str) -> Image.Image:
    """Apply the EXIF orientation tag; a broken EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(im) or im
    except Exception:
        log.debug("ignoring unreadable EXIF in %s", name, exc_info=True)
        return im


def to_rgb(im: Image.Image, name: str = "<image>") -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited onto white."""
    if im.width < 1 or im.height < 1:
        raise ImageLoadError(name, "image has no pixels")
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_bit_depth_to_rgb(im)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode == "L" and "transparency" in im.info):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    return im.convert("RGB")


def _high_bit_depth_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit and float greyscale: scale to the full 8-bit range instead of clipping at 255."""
    arr = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I;16"):
        scaled = arr / 257.0
    else:
        lo, hi = float(arr.min()), float(arr.max())
        if im.mode == "I" and lo >= 0 and hi <= 255:
            scaled = arr
        elif im.mode == "I" and lo >= 0 and hi <= 65535:
            scaled = arr / 257.0
        else:
            scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    grey = Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8))
    return grey.convert("RGB")


def image_size(source: str | os.PathLike[str] | bytes) -> tuple[int, int] | None:
    """Width and height from the header alone (EXIF rotation applied), or None if unreadable."""
    if _dicom(source):
        from image_finder.core.pictures import dicom

        with contextlib.suppress(ImageLoadError):
            facts = dicom.read_facts(source if isinstance(source, bytes) else os.fspath(source))
            return (facts.width, facts.height) if facts.width else None
        return None
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
            return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    except Exception:
        return None


def looks_like_a_picture(stream: BinaryIO, name: str = "") -> bool:
    """Whether a decoder recognises ``stream``'s bytes as a picture (its header; camera RAW
    through rawpy), without decoding it whole. Leaves the stream's position anywhere."""
    try:
        stream.seek(0)
        with Image.open(stream):
            return True
    except Exception:
        pass
    if not is_raw_name(name):
        return False
    try:
        import rawpy

        stream.seek(0)
        with rawpy.imread(stream):
            return True
    except Exception:
        return False


ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is reported, never half-indexed


def read_file(path: str) -> tuple[bytes, int, int]:
    """The file's bytes with the size and mtime they were read at (files can change after the
    scan)."""
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file disappeared before it could be read") from exc
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if not data:
        raise ImageLoadError(path, "empty file (0 bytes)")
    return data, len(data), info.st_mtime_ns
