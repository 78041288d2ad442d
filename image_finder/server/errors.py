"""Every error the API answers is JSON: ``{"error": {"code": ..., "message": ...}}``, with the
status that says what went wrong."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from image_finder.core.common.dberrors import store_error
from image_finder.core.common.errors import (
    EmptyLibraryError,
    ImageFinderError,
    ImageLoadError,
    LibraryBusyError,
    LibraryDamagedError,
    LibraryReadOnlyError,
    LibraryWriteError,
    ModelMismatchError,
    UnknownConceptError,
)
from image_finder.core.pictures.images import NOT_AN_IMAGE
from image_finder.core.search.batching import QueueFullError

log = logging.getLogger("image_finder.server")

RETRY_AFTER_SECONDS = 1
CATALOGUE_WRITES = (
    "This server serves a catalogue: it is filled by image-finder-cli index --store URI --ray, "
    "and its pictures are changed where they are stored."
)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def from_core(exc: ImageFinderError) -> ApiError:
    """A core error as the API answers it."""
    message = str(exc)
    if isinstance(exc, QueueFullError):
        return ApiError(429, "busy_searching", message, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, ImageLoadError):
        if exc.reason == NOT_AN_IMAGE:
            return ApiError(415, "not_an_image", f"The upload is {NOT_AN_IMAGE}.")
        return ApiError(422, "unreadable_image", f"The image cannot be used: {exc.reason}.")
    if isinstance(exc, LibraryBusyError):
        return ApiError(409, "busy", message)
    if isinstance(exc, LibraryReadOnlyError):
        return ApiError(409, "read_only", message)
    if isinstance(exc, EmptyLibraryError):
        return ApiError(409, "empty_library", message)
    if isinstance(exc, ModelMismatchError):
        return ApiError(409, "model_mismatch", message)
    if isinstance(exc, UnknownConceptError):
        return ApiError(404, "not_found", message)
    if isinstance(exc, LibraryDamagedError):
        return ApiError(500, "library_damaged", message)
    if isinstance(exc, LibraryWriteError):
        return ApiError(507, "write_failed", message)
    return ApiError(400, "bad_request", message)


def _validation_message(errors: Any) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(ImageFinderError)
    async def _core_error(request: Request, exc: ImageFinderError) -> JSONResponse:
        api = from_core(exc)
        return error_response(api.status, api.code, api.message, api.headers)

    @app.exception_handler(sqlite3.DatabaseError)
    async def _store_error(request: Request, exc: sqlite3.DatabaseError) -> JSONResponse:
        log.exception("database error answering %s %s", request.method, request.url.path)
        api = from_core(store_error(exc))
        return error_response(api.status, api.code, api.message, api.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid", _validation_message(exc.errors()))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error answering %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error", f"internal error: {type(exc).__name__} (details in the log)"
        )
