"""Alert intake through the running bot under a backlog: new groups first, each group in order, groups in parallel."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from bot.appkeys import ENGINE, REDIS, URGENT, WORKER
from handlers import SERVICES
from handlers.alerts import AlertWorker
from handlers.alerts import flows as alert_flows
from storage import Keys
from storage.lease import Lease
from tests.bot.harness import Bot, LogEvents, pool_taken


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
    sent = [("Backlog", size) for size in range(1, 21)] + [("Fresh", 1), ("Fresh", 2), ("Backlog", 21)]
    for group, size in sent:
        assert (await bot.admit(notification(group, size))).status == 200
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = AlertWorker(bot.http.app[SERVICES], "test-consumer")
        running = asyncio.create_task(worker.run())
        await worker.idle()  # stored, and their Slack work done before the bot stops
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


async def test_a_run_of_one_group_is_stored_together_and_its_redelivery_adds_nothing(bot: Bot) -> None:
    """A run of one group's notifications processed together puts each new alert on the incident's timeline
    once, in order; the same run delivered again (a worker died before acknowledging it) adds nothing."""
    await bot.http.app[WORKER].stop()
    for size in range(1, 7):
        assert (await bot.admit(notification("Run", size))).status == 200
    services = bot.http.app[SERVICES]
    await services.alerts.ensure_consumer_group()
    async with services.alerts.reader() as reader:
        [first], rest = await reader.read("test-consumer", 100, None)
    assert await alert_flows.process_run(services, [first]) == 1  # declares the incident
    assert await alert_flows.process_run(services, rest) == 5
    assert await alert_flows.process_run(services, rest) == 5  # redelivered: every alert is on the timeline already
    await services.alerts.done_all([first, *rest])
    await services.outbox.drain()
    [incident] = (await bot.api("/api/incidents?status=all"))["incidents"]
    events = (await bot.api(f"/api/incidents/{incident['number']}/timeline"))["events"]
    firing = [event["text"] for event in events if event["kind"] == "alert_firing"]
    assert firing == [f"Firing: Run on node-{n}: Run is failing" for n in range(6)]
    journal = await services.incidents.journal.entries(incident["number"])
    assert len([item for item in journal if item.entry.kind.value == "alert_firing"]) == 6
    assert await services.alerts.pending() == 0


async def _backlog(bot: Bot, largest: int) -> None:
    """With the bot's own worker stopped, 8 groups' notifications growing to `largest` alerts each are queued."""
    await bot.http.app[WORKER].stop()
    for size in range(1, largest + 1):
        for group in range(8):
            assert (await bot.admit(notification(f"Backlog{group}", size))).status == 200


async def test_a_batch_waits_while_a_new_group_arriving_beside_it_is_declared(bot: Bot) -> None:
    """A new group's first notification, read while a batch is worked on, is declared before the batch's groups
    start more runs: the batch yields the event loop to it."""
    await _backlog(bot, 24)  # room for the new group to arrive mid-batch on a loaded machine
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = AlertWorker(bot.http.app[SERVICES], "test-consumer", run=1)
        running = asyncio.create_task(worker.run())
        await events.wait_for("incident_declared", 8)  # the batch of later notifications is in hand
        assert (await bot.admit(notification("Fresh", 1))).status == 200
        await worker.idle()
        await worker.stop()
        await running
    names = [(e["event"], e["alert_group"].split('"')[1]) for e in events.seen if "alert_group" in e]
    fresh = names.index(("alert_notification", "Fresh"))
    declared = names.index(("incident_declared", "Fresh"))
    between = [name for name, group in names[fresh:declared] if name == "alert_notification"]
    assert fresh < len(names) - 20  # it arrived while the batch was still being worked on
    assert len(between) <= 3  # runs already under way (1 in trial runs; 5 with the batch not yielding)


async def test_a_new_group_mid_batch_is_declared_while_the_shared_pool_is_taken(bot: Bot) -> None:
    """The watch processes a new group on the urgent connections: with every shared connection held (the
    batch's runs wait for one), its incident is still declared; the batch goes on once they are free."""
    await _backlog(bot, 12)
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = AlertWorker(bot.http.app[SERVICES], "test-consumer", run=1, urgent=bot.http.app[URGENT])
        running = asyncio.create_task(worker.run())
        await events.wait_for("incident_declared", 8)  # the batch of later notifications is in hand
        async with pool_taken(bot.http.app[ENGINE]):
            assert (await bot.admit(notification("Fresh", 1))).status == 200
            await events.wait_for("incident_declared", 9)
        await worker.idle()
        await worker.stop()
        await running
    declared = [e["alert_group"].split('"')[1] for e in events.named("incident_declared")]
    assert declared[8] == "Fresh"
    assert sorted(declared[:8]) == [f"Backlog{group}" for group in range(8)]
    assert len((await bot.api("/api/incidents?status=all"))["incidents"]) == 9


def _leased(bot: Bot, keys: Keys, consumer: str, batch: int) -> AlertWorker:
    """A worker of the bot's inbox that is active only while it holds the bot's worker lease."""
    services = bot.http.app[SERVICES]
    lease = Lease(bot.http.app[REDIS], keys.alert_worker_lease(), consumer, timedelta(seconds=2))
    return AlertWorker(services, consumer, batch=batch, lease=lease)


async def _queue(bot: Bot, group: str, sizes: range) -> None:
    for size in sizes:
        assert (await bot.admit(notification(group, size))).status == 200


async def test_two_workers_on_one_inbox_keep_each_group_in_order(bot: Bot, keys: Keys) -> None:
    """Two workers reading five entries at a time would each take part of a group's notifications and process
    them at once; with the lease one is active and the group's notifications are processed in order."""
    await bot.http.app[WORKER].stop()
    await _queue(bot, "Split", range(1, 25))
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        workers = [_leased(bot, keys, f"worker-{n}", batch=5) for n in range(2)]
        running = [asyncio.create_task(worker.run()) for worker in workers]
        for _ in range(500):  # bounded (10 s): until every entry is processed, by whichever worker
            if not await bot.http.app[SERVICES].alerts.pending():
                break
            await asyncio.sleep(0.02)
        active = len(events.named("alert_worker_active"))  # before they stop: the first one hands the lease over
        for worker in workers:
            await worker.stop()
        await asyncio.gather(*running)
    processed = [e["alerts"] for e in events.named("alert_notification")]
    assert (processed, active) == (list(range(1, 25)), 1)


async def test_a_worker_taking_over_processes_what_its_predecessor_left_before_anything_newer(
    bot: Bot, keys: Keys
) -> None:
    """The active worker read notifications and died before processing them; the worker that takes the lease
    over processes those first, in order, then the ones admitted later."""
    await bot.http.app[WORKER].stop()
    await _queue(bot, "Handover", range(1, 7))
    services = bot.http.app[SERVICES]
    await services.alerts.ensure_consumer_group()
    async with services.alerts.reader() as reader:  # the dead worker's read: pending, never acknowledged
        priority, inbox = await reader.read("dead-worker", 100, None)
    assert len(priority + inbox) == 6
    await _queue(bot, "Handover", range(7, 10))
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = _leased(bot, keys, "successor", batch=1024)
        running = asyncio.create_task(worker.run())
        await worker.caught_up()
        await worker.stop()
        await running
    assert [e["alerts"] for e in events.named("alert_notification")] == list(range(1, 10))
    assert await services.alerts.pending() == 0


async def test_an_entry_that_no_longer_parses_is_dead_lettered_and_the_ones_behind_it_are_processed(
    start_bot: Callable[..., Awaitable[Bot]], keys: Keys
) -> None:
    """An inbox entry is parsed by the run that processes it: one whose payload does not parse (written by hand
    here; intake admits only valid ones) fails its attempts and goes to the dead-letter stream, and the group
    admitted after it is declared."""
    bot = await start_bot(alert_max_attempts=2, alert_retry_backoff=0.01)
    redis = bot.http.app[REDIS]
    fields = {"group": '{}:{alertname="Broken"}', "payload": '{"version": "4", "alerts": [', "new": '["x"]'}
    await redis.xadd(keys.alert_inbox(), fields)
    assert (await bot.alert(notification("Behind", 1))).status == 200
    await bot.settle()
    [(_, dead)] = await redis.xrange(keys.alert_dead())
    assert dead[b"group"] == b'{}:{alertname="Broken"}'
    assert dead[b"error"].startswith(b"ValidationError")
    incidents = (await bot.api("/api/incidents"))["incidents"]
    assert [incident["title"] for incident in incidents] == ["Behind is failing"]
    assert await bot.http.app[SERVICES].alerts.pending() == 0


async def test_a_severity_raise_waits_for_its_own_group_not_for_the_batch(bot: Bot) -> None:
    """A group's severity raise read while a batch is worked on is processed once that group's entries are
    done, while another group of the batch still has most of its own to go (it used to wait for the batch); a
    raise of a group still in hand joins it, after its entries read before."""
    await bot.http.app[WORKER].stop()
    sent = [("Quick", 1, "warning"), ("Quick", 2, "warning")] + [("Slow", size, "error") for size in range(1, 61)]
    for group, size, severity in sent:
        assert (await bot.admit(notification(group, size, severity))).status == 200
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = AlertWorker(bot.http.app[SERVICES], "test-consumer", run=1, parallel=2)
        running = asyncio.create_task(worker.run())
        for _ in range(500):  # bounded (10 s): until both of Quick's notifications are processed
            if len([e for e in events.named("alert_notification") if "Quick" in e["alert_group"]]) == 2:
                break
            await asyncio.sleep(0.02)
        for raised in (notification("Quick", 3, "critical"), notification("Slow", 61, "critical")):  # priority lane
            assert (await bot.admit(raised)).status == 200
        await worker.idle()
        await worker.stop()
        await running
    order = [(e["alert_group"].split('"')[1], e["alerts"]) for e in events.named("alert_notification")]
    assert [size for group, size in order if group == "Quick"] == [1, 2, 3]
    assert [size for group, size in order if group == "Slow"] == list(range(1, 62))
    assert order.index(("Quick", 3)) < order.index(("Slow", 30))
    declared = [e["alert_group"].split('"')[1] for e in events.named("incident_declared")]
    assert sorted(declared) == ["Quick", "Slow"]


async def test_a_raise_read_with_its_groups_earlier_notifications_follows_them(bot: Bot, keys: Keys) -> None:
    """A severity raise goes in the priority lane, but one admitted after inbox notifications of its group and
    read in the same command is processed after them: each group in the order admitted (it went first)."""
    assert (await bot.alert(notification("Mixed", 1, "warning"))).status == 200  # processed: the group is known
    await bot.http.app[WORKER].stop()
    for size, severity in [(2, "warning"), (3, "warning"), (4, "critical")]:
        assert (await bot.admit(notification("Mixed", size, severity))).status == 200
        await asyncio.sleep(0.005)  # admitted in separate milliseconds
    redis, services = bot.http.app[REDIS], bot.http.app[SERVICES]
    [(_, raised)] = await redis.xrange(keys.alert_inbox_priority())  # the group's first was processed and deleted
    assert json.loads(raised[b"payload"])["alerts"][-1]["labels"]["instance"] == "node-3"
    assert await redis.xlen(keys.alert_inbox()) == 2
    events = LogEvents()
    with capture_logs(processors=[merge_contextvars, events]):
        worker = AlertWorker(services, "test-consumer")
        running = asyncio.create_task(worker.run())
        await worker.idle()
        await worker.stop()
        await running
    assert [e["alerts"] for e in events.named("alert_notification")] == [2, 3, 4]
