"""Medical images as pictures: DICOM files read with pydicom, compressed ones (JPEG baseline,
extended and lossless, JPEG-LS, JPEG 2000, RLE) decoded by the pylibjpeg plugins.

A DICOM file is a file named ``.dcm`` (or ``.dicom``), or one without an extension that starts
with DICOM's 128-byte preamble and ``DICM``. Its values become an 8-bit picture as a viewer
shows them: the modality's rescale (slope and intercept, or its LUT) first, then the file's
VOI LUT or window (``apply_voi_lut``), else a robust window over the 0.5th to 99.5th
percentiles of the values; MONOCHROME1 (white is low) is inverted; the values stay in their
own precision (12 or 16 bits) until the window. RGB and palette colour images are kept as they
are (palette colours looked up). A file of several frames gives one picture per frame.

**Patient identifiers never leave the file.** What this module hands out of a file
(:class:`ScanFacts`) is its modality, body part, study date, series description, series UID
(to group the slices of a series; never shown) and frame count: never the patient's name,
ID or birth date, the accession number or the institution. Error messages name the file and
the reason only.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from image_finder.core.common.errors import ImageLoadError

if TYPE_CHECKING:
    from PIL import Image

DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
# what names the patient (and the study's place): read from a file only to keep it out of text
IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber",
               "InstitutionName", "OtherPatientIDs", "ReferringPhysicianName")  # fmt: skip
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
PREAMBLE = 128  # bytes before the "DICM" mark
LOW, HIGH = 0.5, 99.5  # percentiles of the robust window (a file without a window)

Source = str | os.PathLike[str] | bytes


def is_dicom_name(name: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(name))[1].lower() in DICOM_EXTENSIONS


def has_preamble(source: Source) -> bool:
    """Whether the file (or data) starts with DICOM's preamble and ``DICM``."""
    if isinstance(source, bytes):
        return source[PREAMBLE : PREAMBLE + 4] == b"DICM"
    try:
        with open(source, "rb") as f:
            f.seek(PREAMBLE)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom(source: Source) -> bool:
    """A DICOM file: by its name, or (a file without an extension, or data) by its preamble."""
    if isinstance(source, bytes):
        return has_preamble(source)
    if is_dicom_name(source):
        return True
    return not os.path.splitext(os.fspath(source))[1] and has_preamble(source)


@dataclass(frozen=True)
class ScanFacts:
    """What is kept and shown of a DICOM file: never who the patient is."""

    modality: str = ""  # "CT", "MR", "CR"…
    body_part: str = ""  # "CHEST"
    study_date: float | None = None  # seconds since the epoch (local time, as the file says)
    series: str = ""  # the series description
    series_uid: str = ""  # groups a series' slices; never shown
    frames: int = 1
    instance: int | None = None  # its number in the series (the slice's order)
    width: int = 0  # pixels (Columns, Rows)
    height: int = 0


def _name(source: Source) -> str:
    return "<DICOM data>" if isinstance(source, bytes) else os.fsdecode(source)


def _stream(source: Source) -> str | BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return " ".join(str(value or "").split())


def _study_time(ds: Any) -> float | None:
    day = _text(ds, "StudyDate") or _text(ds, "SeriesDate") or _text(ds, "AcquisitionDate")
    clock = (_text(ds, "StudyTime") or "000000").split(".")[0].ljust(6, "0")[:6]
    try:
        return datetime.strptime(day[:8] + clock, "%Y%m%d%H%M%S").timestamp()
    except ValueError:
        try:
            return datetime.strptime(day[:8], "%Y%m%d").timestamp()
        except ValueError:
            return None


def _forced(source: Source) -> bool:
    """A file named .dcm is read even without the preamble (older files lack it)."""
    return not isinstance(source, bytes) and is_dicom_name(source)


@functools.cache
def _quiet() -> None:
    """pydicom set to read without validating values, its log to errors only: its warnings
    about a malformed value quote the value, which may be the patient's name."""
    import pydicom

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pydicom\.")


def _header(source: Source) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    _quiet()
    name = _name(source)
    if not isinstance(source, bytes) and os.path.isfile(source) and os.path.getsize(source) == 0:
        raise ImageLoadError(name, "an empty file")
    try:
        return pydicom.dcmread(_stream(source), stop_before_pixels=True, force=_forced(source))
    except FileNotFoundError as exc:
        raise ImageLoadError(name, "file not found") from exc
    except PermissionError as exc:
        raise ImageLoadError(name, "permission denied") from exc
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ImageLoadError(name, "not a DICOM file that can be read") from exc


def _facts(ds: Any) -> ScanFacts:
    frames = _number(ds, "NumberOfFrames") or 1
    instance = _number(ds, "InstanceNumber") if ds.get("InstanceNumber") is not None else None
    return ScanFacts(
        modality=_text(ds, "Modality").upper(),
        body_part=_text(ds, "BodyPartExamined").upper(),
        study_date=_study_time(ds),
        series=_text(ds, "SeriesDescription"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        frames=max(1, frames),
        instance=instance,
        width=_number(ds, "Columns"),
        height=_number(ds, "Rows"),
    )


def _number(ds: Any, keyword: str) -> int:
    try:
        return int(ds.get(keyword) or 0)
    except (TypeError, ValueError):
        return 0


def read_facts(source: Source) -> ScanFacts:
    """The file's :class:`ScanFacts`, from its header alone."""
    return _facts(_header(source))


def frame_count(source: Source) -> int:
    """How many pictures the file holds (0: it holds none, a report or a presentation state)."""
    ds = _header(source)
    return _facts(ds).frames if _has_pixels(source, ds) else 0


def _has_pixels(source: Source, ds: Any) -> bool:
    """Whether the file has pixel data (the header read stops before it)."""
    import pydicom

    # large values (the pixels) stay on disk
    whole = pydicom.dcmread(_stream(source), defer_size=1024, force=_forced(source))
    return any(k in whole for k in PIXEL_KEYWORDS)


def _dataset(source: Source) -> Any:
    """The whole file (pixel data still encoded), with the same errors as the header's."""
    import pydicom

    _header(source)  # the reasons of a file that is not DICOM
    try:
        return pydicom.dcmread(_stream(source), force=_forced(source))
    except Exception as exc:
        why = _why(exc, _identifiers(_header(source)))
        raise ImageLoadError(_name(source), f"damaged or cut short ({why})") from exc


def frames(
    source: Source,
    *,
    numbers: list[int] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[int, Image.Image]]:
    """The file's pictures (number from 1, picture), windowed as a viewer shows them; only
    ``numbers`` where given. A file without pixel data, or one that cannot be decoded, raises
    :class:`ImageLoadError` with the reason."""
    from pydicom.pixels import iter_pixels

    name = _name(source)
    ds = _dataset(source)
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise ImageLoadError(name, "no image in it (a report or a presentation state)")
    count = _facts(ds).frames
    wanted = sorted({n for n in numbers if 1 <= n <= count}) if numbers else None
    if numbers and not wanted:
        raise ImageLoadError(name, f"it has no frame {numbers[0]}")
    indices = [n - 1 for n in wanted] if wanted else None
    try:
        found = iter_pixels(ds, indices=indices)
        for n, values in zip(wanted or range(1, count + 1), found, strict=False):
            if cancelled():
                return
            yield n, picture_of(ds, values)
    except ImageLoadError:
        raise
    except Exception as exc:  # every decoder's error, with its reason
        why = _why(exc, _identifiers(ds))
        raise ImageLoadError(name, f"its pixels cannot be decoded ({why})") from exc


def _why(exc: BaseException, hidden: tuple[str, ...] = ()) -> str:
    """An exception's words, shortened, with any of the patient's identifiers (``hidden``)
    a decoder might quote taken out."""
    text = " ".join(str(exc).split())
    for value in hidden:
        text = text.replace(value, "…")
    return text[:160] or type(exc).__name__


def _identifiers(ds: Any) -> tuple[str, ...]:
    """The values of the file's identifying elements (never shown: only taken out of text)."""
    found = (str(ds.get(k) or "").strip() for k in IDENTIFYING)
    return tuple(sorted({v for v in found if len(v) >= 3}, key=len, reverse=True))


def picture(source: Source, number: int = 1) -> Image.Image:
    """Frame ``number`` (from 1) of the file, windowed."""
    for _, image in frames(source, numbers=[number]):
        return image
    raise ImageLoadError(_name(source), f"it has no frame {number}")


def picture_of(ds: Any, values: np.ndarray) -> Image.Image:
    """One frame's values (as pydicom decodes them) as an 8-bit RGB picture."""
    from PIL import Image

    photometric = _text(ds, "PhotometricInterpretation").upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(values, ds)
        top = float(np.max(rgb)) if rgb.size else 0.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return Image.fromarray(np.clip(rgb * scale + 0.5, 0, 255).astype(np.uint8), "RGB")
    if values.ndim == 3:  # RGB (pydicom turns YBR into RGB)
        if values.dtype != np.uint8:
            top = 2 ** int(ds.get("BitsStored", 8) or 8) - 1
            values = np.clip(values.astype(np.float64) * 255.0 / top + 0.5, 0, 255)
        return Image.fromarray(values.astype(np.uint8), "RGB")
    grey = windowed(ds, values)
    return Image.fromarray(grey, "L").convert("RGB")


def windowed(ds: Any, values: np.ndarray) -> np.ndarray:
    """A greyscale frame as 8 bits: modality LUT, then the file's VOI LUT or window (else the
    robust window), MONOCHROME1 inverted."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    real = apply_modality_lut(values, ds)
    if ds.get("VOILUTSequence") or ("WindowCenter" in ds and "WindowWidth" in ds):
        try:
            low, high = output_range(ds)
            shown = apply_voi_lut(real, ds, prefer_lut=True).astype(np.float64)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            low, high, shown = *_robust(real), real.astype(np.float64)
    else:
        low, high = _robust(real)
        shown = real.astype(np.float64)
    scaled = (shown - low) * (255.0 / max(high - low, 1e-9))
    grey = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    if _text(ds, "PhotometricInterpretation").upper() == "MONOCHROME1":
        grey = 255 - grey
    return grey


def _robust(values: np.ndarray) -> tuple[float, float]:
    if not values.size:
        return 0.0, 1.0
    low, high = np.percentile(values, [LOW, HIGH])
    if high <= low:  # a flat image (or nearly): its whole range
        low, high = float(np.min(values)), float(np.max(values))
    return float(low), float(high) if high > low else float(low) + 1.0


def output_range(ds: Any) -> tuple[float, float]:
    """The range ``apply_voi_lut`` maps a frame into (PS3.3 C.11.2: the VOI LUT's bit depth,
    else the window's output, which is the stored values' range after the rescale)."""
    lut = ds.get("VOILUTSequence")
    if lut:
        bits = int(lut[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    if int(ds.get("PixelRepresentation", 0) or 0) == 0:
        low, high = 0.0, float(2**bits - 1)
    else:
        low, high = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        low, high = low * float(slope) + float(intercept), high * float(slope) + float(intercept)
    return low, high
