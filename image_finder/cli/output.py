"""What the command line prints: progress, tables that fit the terminal, the status."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType
from typing import Any, TextIO

from image_finder.core.common.records import FolderInfo, display_name
from image_finder.core.indexing.indexer import IndexPhase
from image_finder.core.stores.library import Library
from image_finder.text import byte_size, progress_line


class Interrupt:
    """First Ctrl-C asks the job to stop after the batch in flight; a second one aborts."""

    def __init__(self, out: TextIO) -> None:
        self.requested = False
        self._out = out
        self._previous: Any = None

    def __enter__(self) -> Interrupt:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._out.write("\nStopping after the current batch (Ctrl-C again to abort)…\n")

    def __call__(self) -> bool:
        return self.requested


def run_job(kind: Any, work: Any, heard: Callable[[Any], None] | None = None) -> Any:
    """Run one job on the application layer's job runner (core/app/jobs.py) and wait for it,
    ``heard`` told of each change (in the runner's thread). The first Ctrl-C cancels it (it
    stops after the batch in flight, keeping what it committed); a second one aborts. A failed
    job raises its error; the job is returned (its ``result``, its ``state``)."""
    from image_finder.core.app.jobs import JobRunner, JobState

    runner = JobRunner(heard, name=kind.value)
    try:
        with Interrupt(sys.stderr) as interrupt:
            job = runner.submit(kind, work)
            while not runner.wait(job, 0.2):
                if interrupt():
                    runner.cancel(job.id)
    finally:
        runner.close()
    if job.state is JobState.FAILED:
        raise job.error if job.error is not None else RuntimeError(job.message)
    return job


class ProgressLine:
    """One self-rewriting status line on a terminal, at most ~10 updates a second."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.enabled = out.isatty()
        self._last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and p.done != p.total):
            return
        self._last = now
        text = progress_line(p)
        if p.phase is IndexPhase.EMBEDDING or (
            p.phase in (IndexPhase.LAYOUTS, IndexPhase.FACTS) and p.total
        ):
            width = 24
            filled = int(width * p.done / p.total) if p.total else 0
            text = f"[{'#' * filled}{'.' * (width - filled)}] {p.done:,}/{p.total:,}  {text}"
        self.out.write("\r" + text.ljust(78)[:100])
        self.out.flush()

    def finish(self) -> None:
        if self.enabled:
            self.out.write("\r" + " " * 78 + "\r")
            self.out.flush()


class StepLine:
    """Progress as text on stderr (stdout holds only the answer): one self-rewriting line on a
    terminal (10 updates a second), else a line a second; ``write(text, last)``."""

    def __init__(self, out: TextIO, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._last = 0.0

    def write(self, text: str, last: bool = False) -> None:
        now = time.monotonic()
        if now - self._last < (0.1 if self.tty else 1.0) and not last:
            return
        self._last = now
        self.out.write(("\r" + text.ljust(70)) if self.tty else text + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\r" + " " * 70 + "\r")
            self.out.flush()


def _local_time(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def print_searches(
    queries: Sequence[Any], search: Any, path: Any, options: Any, as_json: bool
) -> int:
    """Each query's outcome (``search(query)``) as a table or a JSON line; a query image that
    cannot be read is one line on stderr (``path(query)`` names it) and exit code 1."""
    from image_finder.core.common.errors import ImageLoadError

    failed = 0
    for n, query in enumerate(queries):
        try:
            outcome = search(query)
        except ImageLoadError as exc:
            failed += 1
            where = path(query)
            reason = "file not found" if not os.path.exists(where) else exc.reason
            print(f"{display_name(where)}: {reason}", file=sys.stderr)
            continue
        if as_json:
            print(json.dumps(outcome.to_json()), flush=True)
            continue
        if n:
            print()
        print_outcome(outcome, options)
    return 1 if failed else 0


def print_outcome(outcome: Any, options: Any) -> None:
    """The results as a table that fits the terminal: the path is shortened in the middle."""
    print(
        f"Query: {display_name(outcome.query)}  ({len(outcome.results)} results, "
        f"{outcome.seconds * 1000:.0f} ms, model {outcome.model})"
    )
    if outcome.notice:
        print(outcome.notice)
    if not outcome.results:
        print("  no results" + (" above the minimum score" if options.min_score else ""))
        return
    if not outcome.close_matches:
        print("No close matches; the closest are:")
    rows = [("Rank", "Score", "Match", "Path", "Indexed at")]
    rows += [
        (
            str(r.rank),
            f"{r.score:.3f}" + ("*" if r.grey_match else " "),
            r.match.value,
            display_name(r.item.path),
            _local_time(r.item.indexed_at),
        )
        for r in outcome.results
    ]
    wheres = ["", *(_where(r) for r in outcome.results)]
    width = shutil.get_terminal_size((100, 24)).columns
    others = sum(max(len(row[i]) for row in rows) for i in (0, 1, 2, 4)) + 8
    room = max(20, width - others - 1)
    rows = [(a, b, c, _shorten(path, max(20, room - len(where))) + where, d)
            for (a, b, c, path, d), where in zip(rows, wheres, strict=True)]  # fmt: skip
    print(_table(rows, right=(0, 1)))
    if any(r.grey_match for r in outcome.results):
        print("* the same picture as the black-and-white query, listed first")


def _where(result: Any) -> str:
    """Where in the file the result is: " · 01:23 (+2 moments)" for a video's moment; the
    other slices of its series for a medical image ("(+3 slices of the series)")."""
    part, slices, scan = result.item.part, len(result.slices), result.scan
    series = f" (+{slices} slice{'s' if slices > 1 else ''} of the series)" if slices else ""
    if result.text is not None:  # the words written in it, the ones searched for in [ ]
        series += " · says “" + " ".join(result.text.snippet.split())[:60] + "”"
    if scan is not None:  # what a medical image shows of itself: never its patient
        facts = scan.to_json()
        shown = [facts["modality"], facts["body_part"], facts["study_date"], facts["series"]]
        series = " · " + " · ".join(w for w in shown if w) + series
    if part is None:
        return series
    more = len(result.moments) - 1
    words = {"time": "moment", "page": "page"}.get(part.kind, "frame")
    return (
        f" · {part.label}"
        + (f" (+{more} {words}{'s' if more > 1 else ''})" if more > 0 else "")
        + series
    )


def _shorten(path: str, width: int) -> str:
    """``path`` in ``width`` characters: the start of the folder, '…', and the file name."""
    if len(path) <= width:
        return path
    name = os.path.basename(path)
    if len(name) + 4 >= width:
        return "…" + path[-(width - 1) :]
    head = width - len(name) - 2
    return path[:head] + "…" + os.sep + name


def print_status(
    data: dict[str, Any], library: Library, folders: list[FolderInfo], device: str
) -> None:
    print(f"Library:      {library.folder}")
    print(f"Images:       {data['images']:,}")
    if data.get("videos"):
        moments = f"{data['moments']:,} of the images are their moments"
        print(f"Videos:       {data['videos']:,} ({moments})")
    print(f"Model:        {data['model']}" + ("" if library.model else " (nothing indexed yet)"))
    print(f"Device:       {device}")
    print(f"Precision:    {data['precision']} ({data['precision_reason']})")
    if data["text_model"]:
        print(f"Words:        {data['text_model']}, {data['text_indexed']:,} pictures indexed")
    else:
        print("Words:        ImageNet's classes (index --text-model clip_vit_b32 for any words)")
    index = data["index_type"]
    if data["n_regions"]:
        index += f", {data['n_regions']} regions, nprobe {data['nprobe']}"
    print(f"Index:        {index}")
    if data["adapter"]:
        a = data["adapter"]
        state = "searched" if a["active"] else "kept, not searched (tune --use adapted)"
        print(f"Adapter:      {len(a['labels'])} labels, mAP@R {a['map_at_r_before']:.3f} → "
              f"{a['map_at_r_after']:.3f}, {a['created'][:10]}; {state}")  # fmt: skip
    print(f"Size on disk: {byte_size(data['bytes_on_disk'])}")
    print(f"Last indexed: {_local_time(library.last_indexed())}")
    if folders:
        print()
        rows = [("Images", "Folder", "State")]
        rows += [(f"{f.images:,}", display_name(f.path), _folder_state(f)) for f in folders]
        print(_table(rows, right=(0,)))
        if not all(f.complete for f in folders):
            print("\nUnfinished folders continue with: image-finder-cli index")
    else:
        print("\nNo folders yet: image-finder-cli index FOLDER")


def _folder_state(folder: FolderInfo) -> str:
    if folder.complete:
        state = "complete"
    elif folder.files_found:
        state = f"unfinished: {folder.images:,} of {folder.files_found:,} indexed"
    else:
        state = "unfinished"
    return state + ("" if folder.online else ", offline")
