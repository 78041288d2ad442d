"""The PDQ hashes of skimage's photos as Meta's reference C++ hasher computes them, for
tests/core/banks/test_pdq.py to hold Image Finder's hashes against.

    python tests/data/pdq_reference.py PDQHASH_SDIST.tar.gz

The reference is ThreatExchange's ``pdq-photo-hasher``, built with g++ from the sources that
the ``pdqhash`` source distribution carries (``pip download --no-binary :all: --no-deps
pdqhash==0.2.8``); it reads PPM files natively (CImg). Only the photos of 512 pixels a side or
less are hashed (the reference squeezes larger ones to 512x512 first, Image Finder does not),
each written as an RGB PPM (greyscale ones too: the luma of equal channels). The result,
``pdq_reference.json``, is committed: the tests do not build anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from PIL import Image
from skimage import data

PHOTOS = ("astronaut", "camera", "chelsea", "coins", "moon", "page", "horse", "clock",
          "immunohistochemistry", "grass", "gravel", "brick")  # fmt: skip
SOURCES = ("io/pdqio.cpp", "common/pdqhashtypes.cpp", "common/pdqhamming.cpp",
           "downscaling/downscaling.cpp", "hashing/pdqhashing.cpp", "hashing/torben.cpp",
           "bin/pdq-photo-hasher.cpp")  # fmt: skip


def photo(name: str) -> Image.Image:
    pixels = getattr(data, name)()
    if pixels.dtype != "uint8":  # horse: booleans
        pixels = (pixels > 0).astype("uint8") * 255
    return Image.fromarray(pixels).convert("RGB")


def main() -> None:
    sdist = Path(sys.argv[1])
    out: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        root = next(Path(tmp).glob("pdqhash-*")) / "ThreatExchange"
        hasher = Path(tmp) / "pdq-photo-hasher"
        cpp = root / "pdq" / "cpp"
        subprocess.run(["g++", "-O2", "-std=c++14", "-Dcimg_display=0", f"-I{root}", f"-I{cpp}",
                        "-o", str(hasher),
                        *(str(cpp / s) for s in SOURCES), "-lpthread"], check=True)  # fmt: skip
        for name in PHOTOS:
            picture = photo(name)
            if max(picture.size) > 512:
                continue
            ppm = Path(tmp) / f"{name}.ppm"
            picture.save(ppm)
            line = subprocess.run([str(hasher), str(ppm)], check=True, capture_output=True,
                                  text=True).stdout.strip()  # fmt: skip
            digest, quality = line.split(",")[:2]
            out[name] = {"hash": digest, "quality": int(quality), "size": list(picture.size)}
    target = Path(__file__).with_name("pdq_reference.json")
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(out)} hashes to {target}")


if __name__ == "__main__":
    main()
