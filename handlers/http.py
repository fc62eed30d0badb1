"""Small HTTP helpers shared by the API and the webhook views: the token gate, safe URLs, JSON errors, and
the API's answer while its database is unavailable."""

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from storage.db import DATABASE_ERRORS

log = structlog.get_logger()

NUMBER = re.compile(r"[0-9]{1,9}")  # incident numbers and other ids people type: at most nine ASCII digits


def listens_on_loopback(host: str) -> bool:
    """Whether the bot's own listen address (`HOST`) is reachable only from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TokenGate:
    """One door's secret: with `token` set, only requests presenting it pass. With it unset, the door is open
    only when the bot listens on loopback (`loopback`), closed otherwise.

    The decision never rests on the TCP peer: behind a reverse proxy on the same host every client is loopback.
    A refusal names the setting only to a bot listening on loopback; a public one tells a stranger nothing."""

    setting: str  # e.g. "API_TOKEN"
    token: str | None
    loopback: bool

    @property
    def closed(self) -> bool:
        """Closed to everyone: no token, and the bot listens publicly."""
        return self.token is None and not self.loopback

    def refusal(self, request: web.Request) -> web.Response | None:
        """None when the request may pass, else the 401 to answer."""
        if self.token is None:
            return json_error(401, "unauthorized") if self.closed else None
        if secret_matches(presented_secret(request), self.token):
            return None
        if self.loopback:
            return json_error(401, f"missing or wrong Authorization: send the {self.setting} (Bearer token)")
        return json_error(401, "unauthorized")


def presented_secret(request: web.Request) -> str | None:
    """The secret in `Authorization`: a Bearer token, or the password of Basic auth."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def secret_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def safe_url(url: str) -> str:
    """A URL fit for logs: scheme, host and path only (no credentials, port, query or fragment)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unparseable url>"
    return f"{parts.scheme}://{host}{parts.path}"


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


DATABASE_UNAVAILABLE = "the database is unavailable; try again shortly"


def database_unavailable() -> Middleware:
    """An API request whose database connection failed (refused, ended, the pool exhausted) answers 503 with
    what to do, not a bare 500. Nothing was changed: the failed statement's transaction rolled back."""

    @web.middleware
    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except DATABASE_ERRORS as error:
            if not request.path.startswith("/api/"):
                raise
            log.warning("api_database_unavailable", path=request.path, error=type(error).__name__)
            return json_error(503, DATABASE_UNAVAILABLE)

    return answer
