"""image-finder-cli text: the text a picture says (read), or a document's (its text layer,
a scanned page read)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from image_finder.core.common.records import display_name, path_json


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser, bool], None]) -> None:
    p = sub.add_parser("text", help="print the text written in a picture or a document")
    p.add_argument("file", metavar="FILE", help="a picture, a PDF, a scanned TIFF, a DICOM file")
    p.add_argument("--page", type=int, metavar="N", help="only page N of a document")
    common(p, True)


def cmd_text(args: argparse.Namespace) -> int:
    from image_finder.core.app.text import file_text

    found = list(file_text(args.file, args.page))
    if args.json:
        print(json.dumps({**path_json(args.file), "parts": [p.to_json() for p in found]}))
        return 0
    for part in found:
        if (part.part is not None and len(found) > 1) or args.page:
            how = "text layer" if part.source == "layer" else "read"
            print(f"── {display_name(args.file)} · {part.part.label if part.part else ''} ({how})")
        print(part.text if part.text else "(no text found)")
    return 0
