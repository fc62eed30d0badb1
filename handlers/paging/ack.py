"""`/api/pages/<id>/ack?user=…&token=…`: the acknowledge link handed to notification webhooks.

A GET (a tap on an SMS link, or a link preview fetching it) only shows a confirmation page whose button POSTs.
The POST acknowledges: once per link, only while that page is still active, and it stops that page only.
"""

import html
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web

from domain import Acknowledge, InvalidTransition
from handlers.http import json_error
from handlers.incidents import flows
from handlers.paging.links import AckClaim
from handlers.paging.pager import Pager
from storage.pages import PageStatus

PAGER = web.AppKey("pager", Pager)
_MIN_TTL = timedelta(minutes=1)  # how long a used link is remembered at least (past its expiry it fails anyway)

log = structlog.get_logger()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>Acknowledge page</title></head>
<body><h1>{heading}</h1><p>{text}</p>{form}</body></html>
"""
_FORM = '<form method="post" action="{action}"><button type="submit">Acknowledge</button></form>'


def routes() -> list[web.RouteDef]:
    async def confirm_page(request: web.Request) -> web.Response:
        """The confirmation page: nothing changes until its button is pressed."""
        claim = _claim(request)
        if claim is None:
            return _html(403, "This acknowledge link is not valid", "It may have expired or been used.")
        action = html.escape(request.rel_url.path_qs, quote=True)
        text = f"Acknowledge page {claim.page_id} for {claim.user}?"
        return _html(200, "Acknowledge this page?", text, _FORM.format(action=action))

    async def acknowledge_page(request: web.Request) -> web.Response:
        claim = _claim(request)
        if claim is None:
            return json_error(403, "the acknowledge link is not valid (forged, expired or malformed)")
        pager = request.app[PAGER]
        record = await pager.pages.get(claim.page_id)
        if record is None or record.status is not PageStatus.ACTIVE:
            return json_error(403, "this page is no longer active: it was acknowledged or has ended")
        ttl = datetime.fromtimestamp(claim.expires, UTC) - pager.services.clock()
        if not await pager.services.seen.first_time("ack-link", claim.signature, max(ttl, _MIN_TTL)):
            return json_error(403, "this acknowledge link was used already")
        await pager.pages.finish(claim.page_id, PageStatus.ACKNOWLEDGED)
        incident = await pager.services.incidents.get(record.number)
        try:
            transition = await flows.act(pager.services, incident, Acknowledge(claim.user), stop_pages=False)
        except InvalidTransition:  # the incident was acknowledged (or resolved) already: this page stops anyway
            pass
        else:
            flows.perform_later(pager.services, transition.incident)
        log.info("page_acknowledged_by_link", page_id=claim.page_id, user=claim.user)
        return web.json_response({"status": "acknowledged", "incident": incident.number})

    return [
        web.get("/api/pages/{page_id}/ack", confirm_page),
        web.post("/api/pages/{page_id}/ack", acknowledge_page),
    ]


def _claim(request: web.Request) -> AckClaim | None:
    pager = request.app.get(PAGER)
    links = pager.delivery.links if pager is not None else None
    if pager is None or links is None:
        return None
    user, token = request.query.get("user", ""), request.query.get("token", "")
    return links.claim(request.match_info["page_id"], user, token, pager.services.clock())


def _html(status: int, heading: str, text: str, form: str = "") -> web.Response:
    """`heading` and `text` are escaped here; `form` is our own markup."""
    body = _PAGE.format(heading=html.escape(heading), text=html.escape(text), form=form)
    return web.Response(status=status, text=body, content_type="text/html", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
