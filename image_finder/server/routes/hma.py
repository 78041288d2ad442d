"""A subset of Hasher-Matcher-Actioner's API (ThreatExchange's HMA), with its paths and JSON
shapes, so that a client written for HMA works against Image Finder's banks unchanged. The
PDQ signal type only (``signal_type=pdq``); every route needs a ``match`` token.

* ``POST /h/hash``: the hashes of an uploaded photo (multipart, part ``photo`` or ``file``):
  ``{"pdq": HASH}``. HMA's ``GET /h/hash?url=`` is refused: the server never fetches a URL a
  client gives.
* ``GET /m/raw_lookup?signal_type=pdq&signal=HASH[&include_distance=true]``: ``{"matches":
  [CONTENT_ID, …]}``, or ``[{"content_id": ID, "distance": "12"}, …]`` with distances.
* ``GET /m/lookup?signal_type=pdq&signal=HASH``: the names of the banks that match.
* ``POST /m/lookup``: an uploaded photo's matches, ``{"pdq": [BANK, …]}``.
* ``GET /m/compare?signal_type=pdq&left=HASH&right=HASH`` and ``POST /m/compare`` with
  ``{"pdq": [HASH, HASH]}``: ``{"pdq": [MATCHED, {"distance": BITS}]}``.
* ``GET /m/index/status``: ``{"pdq": {"present": …, "built_to": …, "size": …}}``.
* ``GET /c/banks`` and ``GET /c/bank/NAME``: banks as HMA shows them (``name``,
  ``matching_enabled_ratio``, ``is_active``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from image_finder.core.common.errors import ImageFinderError, ImageLoadError
from image_finder.server.deps import MatchAccess, ServiceDep
from image_finder.server.errors import ApiError
from image_finder.server.routes.banks import _banks, _upload

router = APIRouter(tags=["hma"])


def _pdq(request: Request, name: str = "signal") -> bytes:
    from image_finder.core.pictures.pdq import parse_hex

    kind = request.query_params.get("signal_type", "")
    if kind != "pdq":
        raise ApiError(400, "invalid", f"No such SignalType '{kind}' (this server has: pdq)")
    value = request.query_params.get(name)
    if not value:
        raise ApiError(400, "invalid", f"Missing request parameter '{name}'")
    try:
        return parse_hex(value)
    except ImageFinderError as exc:
        raise ApiError(400, "invalid", f"invalid signal type: {exc}") from exc


def _lookup(service: Any, digest: bytes) -> list[Any]:
    from image_finder.core.banks.matching import Signals, ready_matcher
    from image_finder.core.pictures.pdq import Pdq

    with _banks(service) as banks:
        if not banks.banks():
            return []
        matcher = ready_matcher(banks.path.parent)
    return matcher.match("signal", None, Signals(Pdq(digest, 100)))


@router.post("/h/hash", summary="HMA: the PDQ hash of an uploaded photo")
async def hash_upload(request: Request, _: Any = MatchAccess) -> dict[str, str]:
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.pdq import pdq_of

    _, data = await _upload(request, "photo", "file")
    try:
        found = await run_in_threadpool(lambda: pdq_of(load_image(data)))
    except ImageLoadError as exc:
        raise ApiError(422, "unreadable_image", f"The upload: {exc.reason}.") from exc
    return {"pdq": found.hex}


@router.get("/h/hash", summary="HMA: refused (no URL is ever fetched)")
def hash_url(_: Any = MatchAccess) -> dict[str, str]:
    raise ApiError(400, "invalid", "This server never fetches a URL: POST the photo to /h/hash.")


@router.get("/m/raw_lookup", summary="HMA: the bank contents a hash matches")
def raw_lookup(request: Request, service: ServiceDep, _: Any = MatchAccess) -> dict[str, Any]:
    found = _lookup(service, _pdq(request))
    hashed = [m for m in found if m.signal == "pdq"]
    if request.query_params.get("include_distance", "false").lower() in ("true", "1", "yes"):
        return {"matches": [{"content_id": m.content_id, "distance": str(int(m.value))}
                            for m in hashed]}  # fmt: skip
    return {"matches": [m.content_id for m in hashed]}


@router.get("/m/lookup", summary="HMA: the banks a hash matches")
def lookup(request: Request, service: ServiceDep, _: Any = MatchAccess) -> list[str]:
    return sorted({m.bank for m in _lookup(service, _pdq(request)) if m.signal == "pdq"})


@router.post("/m/lookup", summary="HMA: the banks an uploaded photo matches")
async def lookup_upload(request: Request, service: ServiceDep,
                        _: Any = MatchAccess) -> dict[str, list[str]]:  # fmt: skip
    from image_finder.core.app.banks import match_picture

    _, data = await _upload(request, "photo", "file")

    def run() -> list[Any]:
        with _banks(service) as banks:
            return match_picture(banks, data) if banks.banks() else []

    try:
        found = await run_in_threadpool(run)
    except ImageLoadError as exc:
        raise ApiError(422, "unreadable_image", f"The upload: {exc.reason}.") from exc
    return {"pdq": sorted({m.bank for m in found if m.signal == "pdq"})}


def _compare(left: bytes, right: bytes) -> dict[str, Any]:
    from image_finder.core.pictures.pdq import MATCH_DISTANCE, distance

    bits = distance(left, right)
    return {"pdq": [bits <= MATCH_DISTANCE, {"distance": bits}]}


@router.get("/m/compare", summary="HMA: whether two hashes match, and how far apart")
def compare(request: Request, _: Any = MatchAccess) -> dict[str, Any]:
    return _compare(_pdq(request, "left"), _pdq(request, "right"))


@router.post("/m/compare", summary="HMA: whether two hashes match, and how far apart")
async def compare_post(request: Request, _: Any = MatchAccess) -> dict[str, Any]:
    from image_finder.core.pictures.pdq import parse_hex

    try:
        body = json.loads(await request.body() or b"{}")
        left, right = body["pdq"]
        return _compare(parse_hex(str(left)), parse_hex(str(right)))
    except (ValueError, KeyError, TypeError, ImageFinderError) as exc:
        raise ApiError(400, "invalid", 'The body is {"pdq": [HASH, HASH]}.') from exc


@router.get("/m/index/status", summary="HMA: the state of the lookup index")
def index_status(service: ServiceDep, _: Any = MatchAccess) -> dict[str, Any]:
    with _banks(service) as banks:
        size = sum(b.hashes for b in banks.banks())
    return {"pdq": {"present": True, "built_to": -1, "size": size}}


def _hma_bank(bank: Any) -> dict[str, Any]:
    return {"name": bank.name, "matching_enabled_ratio": 1.0, "is_active": True}


@router.get("/c/banks", summary="HMA: the banks")
def banks(service: ServiceDep, _: Any = MatchAccess) -> list[dict[str, Any]]:
    with _banks(service) as store:
        return [_hma_bank(b) for b in store.banks()]


@router.get("/c/bank/{name}", summary="HMA: one bank")
def bank(name: str, service: ServiceDep, _: Any = MatchAccess) -> dict[str, Any]:
    with _banks(service) as store:
        try:
            return _hma_bank(store.get(name))
        except ImageFinderError as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
