"""`POST /api/pages/<id>/ack?user=…&token=…`: the acknowledge URL handed to notification webhooks."""

from aiohttp import web

from domain import Acknowledge, InvalidTransition
from handlers.http import json_error
from handlers.incidents import flows
from handlers.paging.pager import Pager

PAGER = web.AppKey("pager", Pager)


def routes() -> list[web.RouteDef]:
    async def acknowledge_page(request: web.Request) -> web.Response:
        pager = request.app.get(PAGER)
        if pager is None:
            return json_error(404, "paging is not set up")
        page_id, user = request.match_info["page_id"], request.query.get("user", "")
        if not pager.delivery.valid_ack(page_id, user, request.query.get("token", "")):
            return json_error(403, "the acknowledge link is not valid")
        record = await pager.pages.get(page_id)
        if record is None:
            return json_error(404, f"there is no page {page_id}")
        incident = await pager.services.incidents.get(record.number)
        try:
            transition = await flows.act(pager.services, incident, Acknowledge(user))
        except InvalidTransition:  # acknowledged already (or resolved): only the paging stops
            await pager.pages.stop_all(record.number)
        else:
            flows.perform_later(pager.services, transition)
        return web.json_response({"status": "acknowledged", "incident": incident.number})

    return [web.post("/api/pages/{page_id}/ack", acknowledge_page)]
