"""The words both faces show: durations, sizes, progress lines and summaries of indexing.

The window and the command line say the same thing the same way; only their layout differs
(a progress bar widget against a line of '#'). Nothing here imports Qt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from image_finder.core.common.records import display_name
from image_finder.core.indexing.indexer import IndexPhase

if TYPE_CHECKING:
    from image_finder.core.common.records import FolderInfo
    from image_finder.core.indexing.indexer import IndexProgress, IndexReport


def home_path(path: str) -> str:
    """A folder as people read it: under the home folder as ``~/Pictures`` (shorter, and
    the same on every machine); elsewhere whole. Printable whatever its bytes."""
    from image_finder.core.common.records import display_name

    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(os.path.join(home, ""))):
        path = "~" + path[len(home) :]
    return display_name(path)


def duration(seconds: float | None) -> str:
    """m:ss, or h:mm:ss from an hour on; --:-- when unknown."""
    if seconds is None:
        return "--:--"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def byte_size(n: float) -> str:
    """Decimal units, as desktop file managers show file sizes: 532 bytes, 1.2 MB."""
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop always returns


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 image', '2,345 images'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def progress_line(progress: IndexProgress) -> str:
    """What indexing is doing now, in one line (counts are shown beside it by each face)."""
    phase = progress.phase
    if phase is IndexPhase.SCANNING:
        return f"Scanning… {count(progress.done, 'file')} found"
    if phase is IndexPhase.EMBEDDING:
        video = f"{duration(progress.video_seconds)} of video · " if progress.video_seconds else ""
        name = display_name(os.path.basename(progress.current))
        where = f"{name} {progress.part} · " if progress.part else ""
        return (
            f"Indexing · {where}{progress.images_per_second:.1f} images/s · {video}"
            f"{duration(progress.eta_seconds)} left"
        )
    if phase is IndexPhase.TEXT:
        return "Indexing for searching by words…"
    if phase is IndexPhase.READING:
        return f"Reading the text in pictures… {progress.done:,} of {progress.total:,}"
    if phase is IndexPhase.CHECKING:
        return f"Finding the fastest precision on {count(progress.total, 'photo')}…"
    if phase is IndexPhase.LAYOUTS:
        return "Updating entries from an earlier version…"
    if phase is IndexPhase.FACTS:
        return "Reading dates, sizes and cameras…"
    return "Saving the index…"


def index_summary(report: IndexReport) -> str:
    """One line on what an indexing run did."""
    parts = [f"{report.added:,} added"]
    for n, what in (
        (report.updated, "updated"),
        (report.moved, "moved"),
        (report.removed, "removed"),
        (len(report.skipped), "skipped"),
    ):
        if n:
            parts.append(f"{n:,} {what}")
    changed = report.added or report.updated or report.moved or report.removed or report.skipped
    if report.cancelled:
        left = f"; {report.remaining:,} left for when you resume" if report.remaining else ""
        return "Indexing stopped: " + ", ".join(parts) + left
    if report.videos:  # "2 videos (3:12 of video, 41× real time)"
        pace = f", {report.video_seconds / report.seconds:.0f}× real time" if report.seconds else ""
        parts.append(f"{count(report.videos, 'video')} ({duration(report.video_seconds)} of video"
                     f"{pace})")  # fmt: skip
    found = (f"; {count(len(report.matches), 'match', 'matches')} in watched banks"
             if report.matches else "")  # fmt: skip
    for failed in (d for d in report.deliveries if d["error"]):
        found += f"; not yet delivered to {failed['url']} ({failed['error']}): tried again later"
    if changed:
        return f"Indexing finished: {', '.join(parts)} in {duration(report.seconds)}{found}"
    return "The library is up to date" + found


def folder_summary(folder: FolderInfo, indexing: bool = False) -> str:
    """The second line of a folder in the library panel (``indexing``: a run is under way,
    so an unfinished folder is not offered for resuming)."""
    resume = "" if indexing else "Resume · "  # first, so that a narrow panel keeps the cue
    if folder.complete:
        summary = count(folder.images, "image")
    elif folder.files_found:
        summary = f"{resume}{folder.images:,} of {folder.files_found:,} indexed"
    else:
        summary = f"{resume}{folder.images:,} indexed, unfinished"
    return summary + ("" if folder.online else " · offline")
