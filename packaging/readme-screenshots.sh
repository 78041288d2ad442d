#!/usr/bin/env bash
# Re-take the README screenshots under a virtual X server (Debian: xvfb, imagemagick).
#   packaging/readme-screenshots.sh [PHOTO_FOLDER]
# PHOTO_FOLDER defaults to the benchmark photo set (python -m benchmarks.photos).
set -euo pipefail
cd "$(dirname "$0")/.."
photos=${1:-benchmarks/.data/photos-300}
[ -d "$photos" ] || .venv/bin/python -m benchmarks.photos "$photos" 300
out=docs/screenshots
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The photos as a user keeps them: ~/Pictures of a home of its own (the panel shows
# "~/Pictures", not a path of the machine the shots were taken on).
mkdir -p "$work/home/Pictures"
cp -r "$photos"/. "$work/home/Pictures/"
photos=$work/home/Pictures
export HOME=$work/home
export IMAGE_FINDER_CONFIG_DIR=$work/config IMAGE_FINDER_CACHE_DIR=$work/cache \
    IMAGE_FINDER_LOG_DIR=$work/log XDG_CONFIG_HOME=$work/xdg
mkdir -p "$IMAGE_FINDER_CONFIG_DIR"
# The bundled model, so that the shots do not depend on a download.
printf 'model = "efficientnet_lite0"\ntop_k = 24\n' > "$IMAGE_FINDER_CONFIG_DIR/settings.toml"
run() { xvfb-run -a -s "-screen 0 1280x860x24" "$@"; }

run .venv/bin/image-finder --data-dir "$work/empty" --screenshot "$out/empty.png"

query=$(ls "$photos"/*.jpg | sed -n 40p)
run .venv/bin/image-finder "$photos" --data-dir "$work/lib" --query "$query" \
    --screenshot "$out/results.png"

# Indexing in progress: a real window on the virtual screen, photographed mid-run.
.venv/bin/python - "$photos" "$HOME/More pictures" <<'PY'
import sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir()
turns = (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90,
         Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
for i, p in enumerate(sorted(src.glob("*.jpg"))):  # enough to photograph the run mid-way
    with Image.open(p) as im:
        for n, turn in enumerate(turns):
            im.convert("RGB").transpose(turn).save(dst / f"variant-{i:04d}-{n}.jpg")
PY
xvfb-run -a -s "-screen 0 1100x720x24" bash -c "
    .venv/bin/image-finder '$HOME/More pictures' --data-dir '$work/lib' & app=\$!
    sleep 9
    import -window root '$out/indexing.png'
    kill \$app; wait \$app || true
"
echo "screenshots in $out"
