"""Generate a folder of awkward files: what people's photo folders really hold.

    python -m tests.corpus OUTPUT_DIR

Each entry in ``EXPECTED`` names a file and whether it should index ("ok") or be skipped
("bad"). Nothing here is committed as a binary: every file is made from Pillow drawings.
"""

from __future__ import annotations

import io
import os
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

NON_UTF8_NAME = b"caf\xe9-latin1.jpg"  # a name written by an old Latin-1 system


def _photo(size: tuple[int, int] = (320, 240), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.zeros((size[1], size[0], 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(255, 0, size[1], dtype=np.uint8)[:, None]
    base[..., 2] = rng.integers(0, 255, dtype=np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = (int(v) for v in rng.integers(0, min(size) // 2, 2))
        x1, y1 = (
            x0 + int(rng.integers(10, min(size) // 2)),
            y0 + int(rng.integers(10, min(size) // 2)),
        )
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return image


def _jpeg_bytes(image: Image.Image, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims 400 megapixels (over the decoder's safety limit)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * 64, 9)  # truncated data is fine: the size check comes first
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _exif_rotated(orientation: int) -> bytes:
    """A 60x30 JPEG (wider than tall, red mark top-left) tagged with an EXIF orientation."""
    image = Image.new("RGB", (60, 30), (20, 60, 200))
    image.paste((255, 0, 0), (0, 0, 12, 12))  # a red mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg_bytes(image, exif=exif.tobytes())


def build(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Write the corpus into ``folder``; returns {file name: "ok" | "bad"}."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, verdict: str) -> None:
        (root / name).write_bytes(data)
        expected[name] = verdict

    good = _jpeg_bytes(_photo())
    put("good.jpg", good, "ok")
    put("corrupt.jpg", good[:200] + os.urandom(2000) + good[2200:], "bad")
    put("truncated.jpg", good[: len(good) // 3], "bad")
    png = _png_bytes(_photo(seed=2))
    put("truncated.png", png[: len(png) // 2], "bad")
    put("zero-bytes.jpg", b"", "bad")
    put("text.jpg", b"This is not a picture, it is a note.\n" * 20, "bad")
    put("page.png", b"<!DOCTYPE html><html><body>Not found</body></html>", "bad")
    put("bomb.png", _bomb_png(), "bad")

    cmyk = io.BytesIO()
    _photo(seed=3).convert("CMYK").save(cmyk, "JPEG")
    put("cmyk.jpg", cmyk.getvalue(), "ok")
    deep = io.BytesIO()
    Image.fromarray((np.linspace(0, 65535, 200 * 100).reshape(100, 200)).astype(np.uint16)).save(
        deep, "PNG"
    )
    put("16-bit.png", deep.getvalue(), "ok")
    palette = _photo(seed=4).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    buf = io.BytesIO()
    palette.save(buf, "PNG", transparency=0)
    put("palette-alpha.png", buf.getvalue(), "ok")
    rgba = _photo(seed=5).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    put("alpha.png", _png_bytes(rgba), "ok")
    la = _photo(seed=6).convert("LA")
    put("grey-alpha.png", _png_bytes(la), "ok")
    put("greyscale.jpg", _jpeg_bytes(_photo(seed=7).convert("L")), "ok")
    frames = [_photo(seed=s).convert("P") for s in range(8, 11)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("animated.gif", buf.getvalue(), "ok")
    buf = io.BytesIO()
    frames[0].convert("RGB").save(
        buf, "WEBP", save_all=True, append_images=[f.convert("RGB") for f in frames[1:]]
    )
    put("animated.webp", buf.getvalue(), "ok")
    put("rotated-exif-6.jpg", _exif_rotated(6), "ok")
    buf = io.BytesIO()
    _photo(seed=12).save(buf, "BMP")
    put("bitmap.bmp", buf.getvalue(), "ok")
    buf = io.BytesIO()
    _photo(seed=13).save(buf, "TIFF")
    put("scan.tiff", buf.getvalue(), "ok")
    put("tiny-1x1.png", _png_bytes(Image.new("RGB", (1, 1), (200, 10, 10))), "ok")
    put("wide-20000x200.png", _png_bytes(_photo((20_000, 200), seed=16)), "ok")
    put("name with spaces.jpg", _jpeg_bytes(_photo(seed=14)), "ok")
    put("emoji-🐈-cat.jpg", _jpeg_bytes(_photo(seed=17)), "ok")
    put("long-" + "x" * 200 + ".jpg", _jpeg_bytes(_photo(seed=18)), "ok")
    for orientation in range(1, 9):
        put(f"exif-orientation-{orientation}.jpg", _exif_rotated(orientation), "ok")
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\0\0\0" + b"x" * 60_000  # UserComment filling the APP1 segment
    exif[0x0112] = 1
    put("huge-exif.jpg", _jpeg_bytes(_photo(seed=19), exif=exif.tobytes()), "ok")
    webp = io.BytesIO()
    _photo(seed=20).save(webp, "WEBP")
    put("truncated.webp", webp.getvalue()[: len(webp.getvalue()) // 2], "bad")
    gif = io.BytesIO()
    _photo(seed=21).convert("P").save(gif, "GIF")
    put("truncated.gif", gif.getvalue()[: len(gif.getvalue()) // 3], "bad")
    put("corrupt.png", png[:60] + bytes(len(png) - 60), "bad")
    # A JPEG with a ZIP archive appended (a "polyglot"): a valid picture, so it is indexed.
    zipped = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "hidden payload")
    put("polyglot-jpeg-zip.jpg", _jpeg_bytes(_photo(seed=22)) + zipped.getvalue(), "ok")

    (root / os.fsdecode(NON_UTF8_NAME)).write_bytes(_jpeg_bytes(_photo(seed=15)))
    expected[os.fsdecode(NON_UTF8_NAME)] = "ok"

    loop = root / "loop"
    loop.mkdir(exist_ok=True)
    if not (loop / "back-to-top").is_symlink():
        os.symlink("..", loop / "back-to-top")
    if not (root / "dangling.jpg").is_symlink():
        os.symlink(root / "no-such-file.jpg", root / "dangling.jpg")
    expected["dangling.jpg"] = "bad"
    return expected


if __name__ == "__main__":
    for name, verdict in sorted(build(sys.argv[1]).items()):
        print(f"{verdict:4} {name}")
