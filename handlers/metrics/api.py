"""The metrics views: `/api/metrics/incidents`, `/api/reports/incidents` and the Prometheus `/metrics`."""

from aiohttp import web

from domain import IncidentError, Severity
from domain.metrics import Window
from handlers.http import json_error
from handlers.metrics import figures
from handlers.metrics.capability import METRICS

CSV, MARKDOWN = "text/csv", "text/markdown"
PROMETHEUS = "text/plain; version=0.0.4"


def routes() -> list[web.RouteDef]:
    async def incident_metrics(request: web.Request) -> web.Response:
        metrics = request.app[METRICS]
        now = metrics.services.clock()
        try:
            raw = request.query.get("severity")
            query = figures.Query(
                Window.parse(request.query.get("window", "30d"), now),
                request.query.get("service") or None,
                Severity.parse(raw) if raw else None,
            )
        except IncidentError as error:
            return json_error(400, str(error))
        body = await metrics.figures(query)
        return web.json_response(body.json())

    async def incident_report(request: web.Request) -> web.Response:
        metrics = request.app[METRICS]
        first, last, shape = request.query.get("from"), request.query.get("to"), request.query.get("format", "json")
        if not first or not last or shape not in {"json", "csv", "md"}:
            return json_error(400, "give from=YYYY-MM-DD and to=YYYY-MM-DD (both days included), format=json|csv|md")
        try:
            window = Window.between(first, last)
        except IncidentError as error:
            return json_error(400, str(error))
        built = await metrics.report(window)
        if shape == "csv":
            return web.Response(text=built.csv(), content_type=CSV)
        if shape == "md":
            return web.Response(text=built.markdown(), content_type=MARKDOWN)
        return web.json_response(built.json())

    async def prometheus(request: web.Request) -> web.Response:
        metrics = request.app[METRICS]
        metrics.recorder.set_open(await metrics.store.open_by_severity())
        return web.Response(body=metrics.recorder.exposition(), headers={"Content-Type": PROMETHEUS})

    return [
        web.get("/api/metrics/incidents", incident_metrics),
        web.get("/api/reports/incidents", incident_report),
        web.get("/metrics", prometheus),
    ]
