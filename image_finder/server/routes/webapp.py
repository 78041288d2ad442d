"""The web app: one page and its files, shipped in the package (it works offline). Opening
the start-up URL (``/?token=…``) logs the browser in with an HttpOnly, SameSite=Strict cookie
and takes the token out of the address bar."""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from image_finder.server.deps import COOKIE, get_service
from image_finder.server.errors import ApiError
from image_finder.server.security import host_name

router = APIRouter(include_in_schema=False)

COOKIE_MAX_AGE = 30 * 24 * 3600


def _page(name: str) -> str:
    return (
        resources.files("image_finder.server").joinpath("static").joinpath(name).read_text("utf-8")
    )


PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/", response_class=HTMLResponse)
def index(request: Request, token: str | None = None) -> Response:
    if token is not None:
        service = get_service(request)
        accepted = service.tokens.scope_of(token) is not None
        # the page says when a link's token was refused (in the fragment: never logged)
        response = RedirectResponse("/" if accepted else "/#token-refused", status_code=303)
        if accepted:
            response.set_cookie(
                COOKIE,
                token,
                max_age=COOKIE_MAX_AGE,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response
    return HTMLResponse(_page("index.html"), headers=PAGE_HEADERS)


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page() -> Response:
    """The duplicates review: the same page, which shows the groups at this address."""
    return HTMLResponse(_page("index.html"), headers=PAGE_HEADERS)


@router.get("/matches", response_class=HTMLResponse)
def matches_page() -> Response:
    """The review of matches in watched hash banks: the same page, at this address."""
    return HTMLResponse(_page("index.html"), headers=PAGE_HEADERS)


@router.get("/icon.svg")
def icon() -> Response:
    svg = resources.files("image_finder.resources.icons").joinpath("image-finder.svg")
    return Response(
        svg.read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/docs", response_class=HTMLResponse)
def docs() -> Response:
    """The API's reference, read from its OpenAPI schema (no outside scripts)."""
    return HTMLResponse(_page("docs.html"), headers=PAGE_HEADERS)


def same_site(request: Request) -> bool:
    """Whether a browser's request comes from this server's own page: its Origin (when sent)
    is this server, and the browser does not call it cross-site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site form (browsers send Origin with a POST)
    own = host_name(request.headers.get("host", ""))
    return origin != "null" and host_name(urlsplit(origin).netloc) == own


@router.post("/logout")
def logout(request: Request) -> Response:
    if not same_site(request):
        raise ApiError(403, "forbidden", "Logging out is done from this server's own page.")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response
