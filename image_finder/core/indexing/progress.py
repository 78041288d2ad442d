"""What an indexing run reports as it goes (its phases and progress) and when it ends."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from image_finder.core.common.records import display_name
from image_finder.core.pictures.scanning import Skipped


class IndexPhase(enum.Enum):
    SCANNING = "scanning"
    CHECKING = "checking"  # trying faster precisions on a few photos (first run only)
    EMBEDDING = "embedding"
    LAYOUTS = "layouts"  # storing brightness layouts for entries of an earlier version
    FACTS = "facts"  # reading format, date taken and camera from the files' headers
    SAVING = "saving"
    TEXT = "text"  # the CLIP vectors for searching any words (core/embedding/clip.py)
    READING = "reading"  # the text written in pictures (core/indexing/texts.py)


@dataclass(frozen=True)
class IndexProgress:
    phase: IndexPhase
    done: int
    total: int
    images_per_second: float = 0.0
    eta_seconds: float | None = None
    current: str = ""
    video_seconds: float = 0.0  # of video indexed so far
    part: str = ""  # how far into the current file ("p. 120 of 2,000")


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    moved: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    offline_folders: list[str] = field(default_factory=list)
    seconds: float = 0.0
    embedded: int = 0
    cancelled: bool = False
    remaining: int = 0  # new or changed files left for the next run when cancelled
    videos: int = 0  # of the files added or updated, the videos
    video_seconds: float = 0.0  # their length
    matches: list[dict[str, Any]] = field(default_factory=list)  # in watched banks, recorded
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # to webhooks, sent or failed

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "moved": self.moved,
            "unchanged": self.unchanged,
            "skipped": [s.to_json() for s in self.skipped],
            "offline_folders": [display_name(f) for f in self.offline_folders],
            "cancelled": self.cancelled,
            "remaining": self.remaining,
            "videos": self.videos,
            "video_seconds": round(self.video_seconds, 1),
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            **({"matches": self.matches} if self.matches else {}),
            **({"deliveries": self.deliveries} if self.deliveries else {}),
        }


ProgressCallback = Callable[[IndexProgress], None]
CancelCallback = Callable[[], bool]
