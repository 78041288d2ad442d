"""Real photos for benchmarks, gathered from what packages ship on this machine.

Sources, in order: the sample photos of ``skimage.data``; desktop wallpapers from Debian
packages (``gnome-backgrounds``, ``mate-backgrounds``, ``plasma-workspace-wallpapers``,
``ukui-wallpapers``, ``lomiri-wallpapers``, ``lomiri-wallpapers-16.04``,
``lomiri-wallpapers-20.04``, ``sway-backgrounds``, ``lxqt-themes``) under /usr/share/backgrounds,
/usr/share/wallpapers and /usr/share/lxqt/wallpapers. When those are fewer than asked for,
quadrant crops of the largest ones make up the rest, then crops of a ninth of each (each crop
is a distinct real photograph at its original resolution).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PIL import Image, ImageStat

from image_finder.core.common.errors import ImageLoadError
from image_finder.core.pictures.images import load_image

WALLPAPER_DIRS = ("/usr/share/backgrounds", "/usr/share/wallpapers", "/usr/share/lxqt/wallpapers")
SKIMAGE = (
    "astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field",
    "immunohistochemistry", "retina", "grass", "gravel", "brick", "coins", "clock", "moon",
    "page", "horse",
)  # fmt: skip
MIN_SIDE = 400


def image_files(folder: Path) -> list[Path]:
    """The pictures in ``folder`` (and below) by the product's own rule: every extension it
    indexes, in any case (``IMG_0001.JPEG``, ``photo.heic``), hidden files left out."""
    from image_finder.core.pictures.scanning import ScanEntry, scan_folder

    found = [Path(e.path) for e in scan_folder(str(folder)) if isinstance(e, ScanEntry)]
    if not found:
        raise SystemExit(f"no pictures in {folder} (the formats Image Finder indexes)")
    return sorted(found)


def wallpaper_files() -> list[tuple[str, Path]]:
    """(name, path) of each wallpaper once: Plasma ships one picture in several resolutions
    (``Name/contents/images/WxH.jpg``), sway in several sizes and orientations
    (``Name_WxH[_Portrait].png``); only the largest file of each is kept."""
    best: dict[str, Path] = {}
    for root in WALLPAPER_DIRS:
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                if not name.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                    continue
                path = Path(folder) / name
                parts = path.parts
                key = parts[parts.index("contents") - 1] if "contents" in parts else path.stem
                key = re.sub(r"[_-]?(\d+x\d+|portrait)", "", key, flags=re.IGNORECASE)
                if "contents" in parts and "images_dark" in parts:
                    key += "-dark"
                if key not in best or path.stat().st_size > best[key].stat().st_size:
                    best[key] = path
    return sorted(best.items())


def build(target: Path, count: int | None = 300) -> list[Path]:
    """Write ``count`` JPEG photos into ``target`` (reused when already there); ``None``: each
    source photo once, no crops."""
    target.mkdir(parents=True, exist_ok=True)
    existing = sorted(target.glob("*.jpg"))
    if existing and (count is None or len(existing) >= count):
        return existing if count is None else existing[:count]
    from skimage import data

    sources: list[tuple[str, Image.Image]] = []
    for name in SKIMAGE:
        sources.append((f"skimage-{name}", Image.fromarray(getattr(data, name)()).convert("RGB")))
    for name, path in wallpaper_files():
        try:
            rgb = load_image(path)  # transparency on white, as the product sees the file
            if min(rgb.size) < MIN_SIDE:
                continue
            if ImageStat.Stat(rgb.convert("L")).stddev[0] < 12:
                continue  # a flat or transparent backdrop, not a photo
            sources.append((f"wall-{name}", rgb))
        except ImageLoadError:
            continue
    written: list[Path] = []

    def save(name: str, image: Image.Image) -> None:
        out = target / f"{len(written):04d}-{name}.jpg"
        image.save(out, quality=90)
        written.append(out)

    for name, image in sources:
        if count is None or len(written) < count:
            save(name, image)
    if count is None:
        return written
    large = sorted(sources, key=lambda s: -s[1].width * s[1].height)
    for cells in (2, 3):  # quadrants of each, then ninths
        for name, image in large:
            w, h = image.size
            for i in range(cells * cells):
                if len(written) >= count:
                    return written
                x, y = i % cells, i // cells
                box = (w * x // cells, h * y // cells, w * (x + 1) // cells, h * (y + 1) // cells)
                save(f"{name}-crop{i}" if cells == 2 else f"{name}-ninth{i}", image.crop(box))
    return written


if __name__ == "__main__":
    import sys

    paths = build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300)
    print(f"{len(paths)} photos in {sys.argv[1]}")


def place(source: Path, target: Path) -> None:
    """``source`` at ``target`` for a library to index: a hard link where the two share a
    file system, else a copy (a symbolic link out of the folder would not be followed)."""
    import shutil

    if target.is_symlink():  # left by an earlier version: replaced
        target.unlink()
    elif target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
