"""Acknowledge links for SMS and phone gateways: a token signing page, person, step and expiry.

`<public url>/api/pages/<page id>/ack?user=<id>&token=<step>.<round>.<expires>.<signature>`. The signature is an
HMAC-SHA256 under `PAGE_ACK_SECRET` (a secret of its own, never the Slack signing secret). Anything that does not
parse, does not verify, or has expired is simply not a claim: the view answers 403.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from domain.escalation import Position

_SMALL = r"(0|[1-9][0-9]{0,2})"  # one spelling per number, so a token cannot be rewritten and still verify
_TOKEN = re.compile(rf"{_SMALL}\.{_SMALL}\.([1-9][0-9]{{0,11}})\.([0-9a-f]{{64}})")
_USER = re.compile(r"[UW][A-Z0-9]{1,30}")


@dataclass(frozen=True)
class AckClaim:
    """A verified, unexpired link: who may acknowledge which page, paged at which step."""

    page_id: str
    user: str
    position: Position
    expires: int  # Unix seconds
    signature: str


@dataclass(frozen=True)
class AckLinks:
    secret: str
    public_url: str
    ttl: timedelta = timedelta(hours=1)

    def url(self, page_id: str, user: str, position: Position, now: datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        token = f"{position.step}.{position.round}.{expires}.{self._sign(page_id, user, position, expires)}"
        query = urlencode({"user": user, "token": token})
        return f"{self.public_url.rstrip('/')}/api/pages/{quote(page_id, safe='')}/ack?{query}"

    def claim(self, page_id: str, user: str, token: str, now: datetime) -> AckClaim | None:
        """The claim a link makes, or None when it is malformed, forged or expired."""
        match = _TOKEN.fullmatch(token)
        if match is None or not _USER.fullmatch(user) or not page_id.isascii():
            return None
        step, round_, expires, signature = match.groups()
        position = Position(int(step), int(round_))
        expected = self._sign(page_id, user, position, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()) or int(expires) < now.timestamp():
            return None
        return AckClaim(page_id, user, position, int(expires), signature)

    def _sign(self, page_id: str, user: str, position: Position, expires: int) -> str:
        message = f"{page_id}\n{user}\n{position.step}\n{position.round}\n{expires}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
