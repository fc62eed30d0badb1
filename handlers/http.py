"""Small HTTP helpers shared by the API and the webhook views."""

import base64
import binascii
import hmac
from ipaddress import ip_address

from aiohttp import web


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ip_address(remote).is_loopback
    except ValueError:
        return False


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


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
