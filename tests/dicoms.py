"""DICOM files for tests, written with pydicom from real pictures (skimage's), with planted
patient identifiers that must never leave them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tests.videos import photo

PATIENT = "Planted^Patientname"
PATIENT_ID = "PID-73519-XQ"
BIRTH = "19411223"
ACCESSION = "ACC-88231-ZR"
INSTITUTION = "Saint Plantedwell Hospital"
IDENTIFIERS = (PATIENT, PATIENT_ID, BIRTH, ACCESSION, INSTITUTION, "Planted", "Plantedwell")

SYNTAXES = ("explicit", "implicit", "big", "rle", "j2k", "jpeg")


def values(name: str = "camera", size: int = 128, bits: int = 12) -> np.ndarray:
    """A real picture as ``bits``-bit unsigned values (a CT's or an X-ray's range)."""
    grey = np.asarray(photo(name).convert("L").resize((size, size)), np.float64)
    return np.round(grey / 255.0 * (2**bits - 1)).astype(np.uint16)


def write(
    path: Path,
    pixels: np.ndarray,
    *,
    syntax: str = "explicit",
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    modality: str = "CT",
    body_part: str = "CHEST",
    series: str = "Axial 5mm",
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    instance: int = 1,
    study_date: str = "20240315",
    preamble: bool = True,
) -> Path:
    """A DICOM file of ``pixels`` (rows × columns, frames × rows × columns, or RGB × 3)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        RLELossless,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    colour = pixels.ndim == 3 and pixels.shape[-1] == 3
    frames = pixels.shape[0] if pixels.ndim == 3 and not colour else 1
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = {
        "explicit": "1.2.840.10008.1.2.1",
        "implicit": "1.2.840.10008.1.2",
        "big": "1.2.840.10008.1.2.2",
    }.get(syntax, "1.2.840.10008.1.2.1")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT, PATIENT_ID, BIRTH
    ds.AccessionNumber, ds.InstitutionName = ACCESSION, INSTITUTION
    ds.Modality, ds.BodyPartExamined, ds.SeriesDescription = modality, body_part, series
    ds.StudyDate, ds.StudyTime, ds.SeriesInstanceUID = study_date, "101500", series_uid
    ds.StudyInstanceUID, ds.InstanceNumber = "1.2.826.0.1.3680043.8.498.2", instance
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else photometric
    if colour:
        ds.PlanarConfiguration = 0
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated, ds.BitsStored = bits, 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    data = pixels.astype(np.uint8 if bits == 8 else np.uint16)
    if syntax == "big":
        ds.PixelData = data.astype(">u2" if bits == 16 else np.uint8).tobytes()
    else:
        ds.PixelData = data.tobytes()
    if syntax == "rle":
        ds.compress(RLELossless)
    elif syntax == "j2k":
        ds.compress(JPEG2000Lossless)
    elif syntax == "jpeg":
        _jpeg(ds, data, colour, JPEGBaseline8Bit)
    pydicom.dcmwrite(path, ds, enforce_file_format=preamble)
    return path


def _jpeg(ds, data: np.ndarray, colour: bool, uid) -> None:
    """JPEG baseline (8 bits), encoded by Pillow and encapsulated as DICOM keeps it."""
    from PIL import Image
    from pydicom.encaps import encapsulate

    if data.dtype != np.uint8:
        raise ValueError("JPEG baseline holds 8-bit values")
    frames = [data] if colour or data.ndim == 2 else list(data)
    encoded = []
    for frame in frames:
        out = io.BytesIO()
        Image.fromarray(frame, "RGB" if colour else "L").save(out, "JPEG", quality=95)
        encoded.append(out.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = uid
    if colour:
        ds.PhotometricInterpretation = "YBR_FULL_422"
