"""What routes are handed: the running service, and the access a request has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from image_finder.server.errors import ApiError
from image_finder.server.service import Service
from image_finder.server.tokens import Scope

COOKIE = "image_finder_token"


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def request_token(request: Request) -> str | None:
    """A bearer token, else the browser's login cookie."""
    header = request.headers.get("authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def access(needed: Scope) -> Callable[[Request], Scope | None]:
    def check(request: Request) -> Scope | None:
        service = get_service(request)
        token = request_token(request)
        if needed is Scope.SEARCH and service.config.public_search and not token:
            return None
        scope = service.tokens.scope_of(token)
        if scope is None:
            raise ApiError(
                401,
                "unauthorized",
                "A token is needed: open the URL the server printed at start, or send "
                "'Authorization: Bearer TOKEN'."
                if not token
                else "This token is not valid (revoked, or never made here).",
                {"WWW-Authenticate": "Bearer"},
            )
        if not scope.allows(needed):
            raise ApiError(
                403,
                "forbidden",
                f"This token may only {scope.value}; this needs a '{needed.value}' token.",
            )
        return scope

    return check


ServiceDep = Annotated[Service, Depends(get_service)]
SearchAccess = Depends(access(Scope.SEARCH))
ManageAccess = Depends(access(Scope.MANAGE))
MatchAccess = Depends(access(Scope.MATCH))


def token_owner(request: Request) -> str:
    """Who the request's token is ("main", or its id), to attribute a decision to."""
    return get_service(request).tokens.who(request_token(request))
