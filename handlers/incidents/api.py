"""The read-only JSON API under /api, built on the shapes other tools depend on."""

import json
from datetime import UTC, datetime

from aiohttp import web

from domain import Incident, IncidentNotFound, TimelineEntry
from handlers.http import NUMBER, json_error
from handlers.incidents.timeline import read_timeline
from handlers.services import SERVICES

JSON = dict[str, object]


def iso(at: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, e.g. 2026-11-25T03:00:00Z."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def incident_json(incident: Incident) -> JSON:
    return {
        "number": incident.number,
        "title": incident.title,
        "severity": int(incident.severity),
        "severity_label": incident.severity.label,
        "status": incident.status.value,
        "commander": incident.commander,
        "declared_by": incident.declared_by,
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "declared_at": iso(incident.declared_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "resolved_at": iso(incident.resolved_at),
        "source": (
            {"kind": "alertmanager", "group_key": incident.source_group_key} if incident.source_group_key else None
        ),
    }


def entry_json(entry: TimelineEntry) -> JSON:
    return {"at": iso(entry.at), "kind": entry.kind.value, "actor": entry.actor, "text": entry.text}


def routes() -> list[web.RouteDef]:
    """The API views; they find the services under `SERVICES` on the running application."""

    async def list_incidents(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        which = request.query.get("status", "open")
        if which not in {"open", "all"}:
            return json_error(400, "status must be `open` or `all`")
        incidents = await services.incidents.list(open_only=which == "open")
        return web.json_response({"incidents": [incident_json(i) for i in incidents]})

    async def get_incident(request: web.Request) -> web.Response:
        incident = await _incident(request)
        return web.json_response(incident_json(incident))

    async def get_timeline(request: web.Request) -> web.Response:
        incident = await _incident(request)
        entries = await read_timeline(request.app[SERVICES], incident.number)
        return web.json_response({"events": [entry_json(e) for e in entries]})

    async def _incident(request: web.Request) -> Incident:
        raw = request.match_info["number"]
        if not NUMBER.fullmatch(raw):
            text = _dump(f"`{raw[:20]}` is not an incident number")
            raise web.HTTPBadRequest(text=text, content_type="application/json")
        try:
            return await request.app[SERVICES].incidents.get(int(raw))
        except IncidentNotFound as error:
            raise web.HTTPNotFound(text=_dump(str(error)), content_type="application/json") from None

    return [
        web.get("/api/incidents", list_incidents),
        web.get("/api/incidents/{number}", get_incident),
        web.get("/api/incidents/{number}/timeline", get_timeline),
    ]


def _dump(message: str) -> str:
    return json.dumps({"error": message})
