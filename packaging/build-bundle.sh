#!/usr/bin/env bash
# Build the one-folder bundle in dist/image-finder/ (Linux; the same spec works on Windows and
# macOS, see docs/install.md, "Standalone bundle").
#   packaging/build-bundle.sh
# For a small bundle, build in a venv whose PyTorch is the CPU build (see docs/install.md):
# the CUDA build adds some 4 GB of NVIDIA libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e . pyinstaller
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
    packaging/image-finder.spec
du -sh dist/image-finder
