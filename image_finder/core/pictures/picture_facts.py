"""What a picture's file says of it without decoding its pixels: its format, when it was taken
(EXIF ``DateTimeOriginal``) and the camera (EXIF make and model); a DICOM file's modality, body
part, study date and series (never its patient: core/pictures/dicom.py). Searches are
narrowed by these (core/search/conditions.py)."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

from image_finder.core.pictures import dicom
from image_finder.core.pictures.documents import is_document_name
from image_finder.core.pictures.images import is_raw_name
from image_finder.core.pictures.video import is_video_name

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 0x9003
DATE_TIME = 0x0132
MAKE, MODEL = 0x010F, 0x0110

# Pillow's format names, as conditions name them
FORMAT_NAMES = {"jpeg": "jpeg", "mpo": "jpeg", "png": "png", "webp": "webp", "gif": "gif",
                "tiff": "tiff", "bmp": "bmp", "heif": "heic", "avif": "avif"}  # fmt: skip


@dataclass(frozen=True)
class PictureFacts:
    format: str  # "jpeg", "png", "heic", "raw"…; "" when the header cannot be read
    taken_at: float | None = None  # seconds since the epoch, local time as the camera wrote it
    camera: str = ""  # "Canon EOS 80D"
    duration: float | None = None  # a video's length in seconds (0: it could not be read)
    modality: str = ""  # a DICOM file's: "CT"
    body_part: str = ""  # "CHEST"
    series: str = ""  # the series description
    series_uid: str = ""  # groups a series' slices in results; never shown

    def row(self, image_id: int) -> tuple[object, ...]:
        """As the library stores it (side_data.set_facts)."""
        return (image_id, self.format, self.taken_at, self.camera, self.duration,
                self.modality, self.body_part, self.series, self.series_uid)  # fmt: skip


def _exif_time(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except ValueError:
        return None


def camera_name(make: object, model: object) -> str:
    """'Canon' + 'Canon EOS 80D' -> 'Canon EOS 80D'; 'NIKON CORPORATION' + 'NIKON D750' ->
    'NIKON CORPORATION NIKON D750' is shortened to 'NIKON D750'."""
    make_text = str(make or "").strip().strip("\x00")
    model_text = str(model or "").strip().strip("\x00")
    first = make_text.split(" ")[0].lower()
    if model_text and first and model_text.lower().startswith(first):
        return model_text
    return " ".join(t for t in (make_text, model_text) if t)


def read_facts(path: str | os.PathLike[str]) -> PictureFacts:
    """The picture's format, time taken and camera, from its header alone (a video's: its
    container, as its extension names it, and its recording date)."""
    if is_raw_name(path):
        return PictureFacts("raw")
    if is_document_name(path):
        return PictureFacts("pdf")
    if dicom.is_dicom(path):
        return _dicom_facts(path)
    if is_video_name(path):
        try:
            st = os.stat(path)
        except OSError:
            return PictureFacts("")
        return _video_facts(os.fspath(path), st.st_size, st.st_mtime_ns)
    try:
        with Image.open(path) as im:
            fmt = FORMAT_NAMES.get((im.format or "").lower(), (im.format or "").lower())
            exif = im.getexif()
            sub = exif.get_ifd(EXIF_IFD)
            taken = _exif_time(sub.get(DATE_TIME_ORIGINAL)) or _exif_time(exif.get(DATE_TIME))
            return PictureFacts(fmt, taken, camera_name(exif.get(MAKE), exif.get(MODEL)))
    except Exception as exc:  # the file is read fully, with its reason, when it is indexed
        log.debug("no facts from the header of %s: %s", path, exc)
        return PictureFacts("")


@functools.lru_cache(maxsize=64)  # a video's moments ask for it one after another
def _video_facts(path: str, size: int, mtime_ns: int) -> PictureFacts:
    from image_finder.core.common.errors import ImageLoadError
    from image_finder.core.pictures.video import probe

    container = os.path.splitext(path)[1].lower().lstrip(".")
    try:
        facts = probe(path)
    except ImageLoadError as exc:
        log.debug("no facts from the header of %s: %s", path, exc.reason)
        return PictureFacts(container, duration=0.0)
    return PictureFacts(container, facts.recorded or mtime_ns / 1e9, "", facts.duration)


def _dicom_facts(path: str | os.PathLike[str]) -> PictureFacts:
    """A DICOM file's study date as its date, its modality, body part and series."""
    from image_finder.core.common.errors import ImageLoadError

    try:
        scan = dicom.read_facts(os.fspath(path))
    except ImageLoadError as exc:
        log.debug("no facts from the header of %s: %s", path, exc.reason)
        return PictureFacts("dicom")
    return PictureFacts("dicom", scan.study_date, "", None, scan.modality, scan.body_part,
                        scan.series, scan.series_uid)  # fmt: skip
