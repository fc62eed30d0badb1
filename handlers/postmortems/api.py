"""`GET /api/postmortems/<number>[.md]` and `GET /api/action-items`, under the API token like the rest of /api.

A published postmortem reads as its latest revision (or `?revision=N`), exactly as it was stored; a draft
reads live. `read` is what the CLI export prints too.
"""

import json

from aiohttp import web

from domain import IncidentNotFound, InvalidValue
from domain.postmortem import ItemStatus
from domain.postmortem_markdown import render
from handlers.http import json_error
from handlers.postmortems import flows
from handlers.postmortems.export import JSON, document_json, item_json, revisions_json
from handlers.postmortems.flows import POSTMORTEMS, Postmortems


class NoSuchRevision(InvalidValue):
    """The postmortem has no published revision with that number."""


async def read(pms: Postmortems, number: int, revision: int | None = None) -> tuple[JSON, str]:
    """The postmortem's JSON and Markdown: a published revision as stored, else the live draft."""
    pm = await flows.load(pms, number)
    revisions = await pms.store.revisions(number)
    wanted = revision if revision is not None else (revisions[-1].revision if revisions else None)
    history = {"revisions": revisions_json(revisions)}
    if wanted is None:
        doc = await flows.document(pms, number, pm)
        return document_json(doc) | {"state": pm.state.value} | history, render(doc)
    stored = next((r for r in revisions if r.revision == wanted), None)
    if stored is None:
        raise NoSuchRevision(f"The postmortem of #{number} has no revision {wanted}.")
    return stored.document | {"state": pm.state.value} | history, stored.markdown


def routes() -> list[web.RouteDef]:
    async def get_markdown(request: web.Request) -> web.StreamResponse:
        _, markdown = await _read(request)
        return web.Response(text=markdown, content_type="text/markdown")

    async def get_json(request: web.Request) -> web.StreamResponse:
        body, _ = await _read(request)
        return web.json_response(body)

    async def list_items(request: web.Request) -> web.StreamResponse:
        pms = request.app[POSTMORTEMS]
        which = request.query.get("status", "open")
        if which not in {"open", "overdue", "all"}:
            return json_error(400, "status must be `open`, `overdue` or `all`")
        items = await pms.store.items(status=None if which == "all" else ItemStatus.OPEN)
        if which == "overdue":
            today = pms.services.clock().date()
            items = [item for item in items if item.overdue(today)]
        return web.json_response({"action_items": [item_json(item) for item in items]})

    return [
        web.get(r"/api/postmortems/{number:\d+}.md", get_markdown),
        web.get(r"/api/postmortems/{number:\d+}", get_json),
        web.get("/api/action-items", list_items),
    ]


async def _read(request: web.Request) -> tuple[JSON, str]:
    number = int(request.match_info["number"])
    raw = request.query.get("revision")
    if raw is not None and not raw.isdigit():
        raise web.HTTPBadRequest(text='{"error": "revision must be a number"}', content_type="application/json")
    try:
        return await read(request.app[POSTMORTEMS], number, int(raw) if raw else None)
    except (InvalidValue, IncidentNotFound) as error:
        raise web.HTTPNotFound(text=_error(str(error)), content_type="application/json") from None


def _error(message: str) -> str:
    return json.dumps({"error": message})
