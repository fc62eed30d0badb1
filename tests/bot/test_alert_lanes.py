"""Alert intake through the running bot under a backlog: new groups first, each group in order, groups in parallel."""

import asyncio
import json
from typing import Any

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from bot.server import WORKER
from handlers import SERVICES
from handlers.alerts import AlertWorker
from tests.bot.harness import ALERTMANAGER_TOKEN, Bot, LogEvents


def notification(group: str, size: int, severity: str = "critical") -> bytes:
    """Group `group`'s notification carrying its first `size` alerts, as Alertmanager grows a group."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": group, "severity": severity, "instance": f"node-{n}"},
            "annotations": {"summary": f"{group} is failing"},
            "startsAt": "2026-11-25T03:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{group}-{n}",
        }
        for n in range(size)
    ]
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "status": "firing",
        "receiver": "firebreak",
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "severity": severity},
        "commonAnnotations": {"summary": f"{group} is failing"},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
    return json.dumps(body).encode()


async def test_a_new_group_overtakes_a_backlog_and_every_group_keeps_its_order(bot: Bot) -> None:
    """Behind a backlog of one group's notifications, a new group's first one is processed before them; each
    group's notifications are processed in the order they were admitted."""
    await bot.http.app[WORKER].stop()  # the bot's worker stops: the notifications pile up
    headers = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}", "Content-Type": "application/json"}
    sent = [("Backlog", size) for size in range(1, 21)] + [("Fresh", 1), ("Fresh", 2), ("Backlog", 21)]
    for group, size in sent:
        response = await bot.http.post("/webhooks/alertmanager", data=notification(group, size), headers=headers)
        assert response.status == 200
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = AlertWorker(bot.http.app[SERVICES], "test-consumer")
        running = asyncio.create_task(worker.run())
        await worker.caught_up()
        await worker.stop()
        await running
    order = [(e["alert_group"].split('"')[1], e["alerts"]) for e in events.named("alert_notification")]
    assert order.index(("Fresh", 1)) < order.index(("Backlog", 2))
    for group in ("Backlog", "Fresh"):
        assert [size for name, size in order if name == group] == [size for name, size in sent if name == group]
    incidents = (await bot.api("/api/incidents?status=all"))["incidents"]
    assert sorted(i["source"]["group_key"] for i in incidents) == sorted(
        ['{}:{alertname="Backlog"}', '{}:{alertname="Fresh"}']
    )
