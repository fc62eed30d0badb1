"""Use-case flows against real SQL and Redis, with a Redis that is down where a test needs one."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import Acknowledge, AddNote, Incident, Severity, TimelineEntry
from domain.timeline import EntryKind
from handlers import Services
from handlers.incidents import effects as incident_effects
from handlers.incidents import flows, timeline
from handlers.slack import SlackGateway, SlackOutbox
from handlers.slack.effects import EffectQueue
from sandbox.slack_api import SlackEmulator
from storage import IncidentStore, Keys, SeenStore, TimelineStore
from storage.alerts import AlertStore
from storage.effects import EffectStore

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def services(
    incidents: IncidentStore, redis: Redis, keys: Keys, timeline: TimelineStore, engine: AsyncEngine
) -> Services:
    outbox = SlackOutbox()
    return Services(
        incidents=incidents,
        timeline=timeline,
        seen=SeenStore(redis, keys),
        slack=SlackGateway(AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")),
        clock=lambda: NOW,
        alerts=AlertStore(redis, keys),
        outbox=outbox,
        effects=EffectQueue(EffectStore(engine), outbox, lambda: NOW),
    )


async def test_a_change_whose_timeline_append_fails_keeps_its_entry_until_redis_is_back(
    incident_store: IncidentStore, redis: Redis, keys: Keys, timeline_store: TimelineStore, engine: AsyncEngine
) -> None:
    """SQL took the acknowledgement, Redis was down for its timeline entry: it succeeds, the entry waits, then moves."""
    working = services(incident_store, redis, keys, timeline_store, engine)
    incident, _ = await flows.declare_incident(working, title="Checkout", severity=Severity.SEV1, declared_by="U1")
    down = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)  # nothing listens on port 9
    try:
        broken = replace(working, timeline=TimelineStore(down, keys))
        await flows.act(broken, incident, Acknowledge("U2"))  # answered: SQL took it
    finally:
        await down.aclose()
    assert (await incident_store.get(incident.number)).acknowledged_at == NOW
    assert [e.kind for e in await timeline_store.read(incident.number)] == [EntryKind.DECLARED]
    assert await timeline.move_timeline(working) == 1
    assert await timeline.move_timeline(working) == 0
    kinds = [e.kind for e in await timeline_store.read(incident.number)]
    assert kinds == [EntryKind.DECLARED, EntryKind.ACKNOWLEDGED]


async def test_performing_a_change_shows_its_kept_entries_and_marks_them_moved_with_the_lease(
    incident_store: IncidentStore, redis: Redis, keys: Keys, timeline_store: TimelineStore, engine: AsyncEngine
) -> None:
    """The change hands `perform` its entries as SQL kept them: they reach the stream and are marked moved (none
    left pending); with Redis down they stay pending in SQL, unmarked, for the sweep."""
    async with SlackEmulator() as slack:
        gateway = SlackGateway(AsyncWebClient(token="xoxb-test", base_url=slack.url))
        working = replace(services(incident_store, redis, keys, timeline_store, engine), slack=gateway)
        incident_effects.register(working, flows.refresh_card)
        declared, _ = await flows.declare_incident(
            working, title="Checkout", severity=Severity.SEV1, declared_by="U0ALICE"
        )
        incident = await flows.open_channel(working, declared)
        acted = await flows.act(working, incident, Acknowledge("U0BOB"))
        assert [item.entry.kind for item in acted.journal] == [EntryKind.ACKNOWLEDGED]
        assert await flows.perform(working, acted.incident, acted.journal) == []
        kinds = [e.kind for e in await timeline_store.read(incident.number)]
        assert (kinds, await incident_store.journal.pending(incident.number)) == (
            [EntryKind.DECLARED, EntryKind.ACKNOWLEDGED],
            [],
        )
        down = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)  # nothing listens on port 9
        try:
            broken = replace(working, timeline=TimelineStore(down, keys))
            noted = await flows.act(broken, acted.incident, AddNote("U0BOB", "Rolled back"))
            assert await flows.perform(broken, noted.incident, noted.journal) == []
        finally:
            await down.aclose()
        assert [item.id for item in await incident_store.journal.pending(incident.number)] == [noted.journal[0].id]
        assert await timeline.move_timeline(working) == 1
        assert len(slack.calls_to("chat.update")) >= 1  # the card refreshes ran with the lease


async def test_a_declaration_repeated_after_its_paging_failed_pages(
    incident_store: IncidentStore, redis: Redis, keys: Keys, timeline_store: TimelineStore, engine: AsyncEngine
) -> None:
    """The first attempt stored the incident and failed to page (still declared); the repeat pages."""
    paged: list[int] = []

    async def on_declare(incident: Incident, service: str | None) -> None:
        if not paged:
            paged.append(0)
            raise RedisConnectionError("the process died here")
        paged.append(incident.number)

    declaring = replace(services(incident_store, redis, keys, timeline_store, engine), on_declare=on_declare)
    first, created_first = await flows.declare_incident(
        declaring, title="Checkout", severity=Severity.SEV1, declared_by=None, idempotency_key="k"
    )
    assert created_first  # declared means declared: the paging failure is the sweep's to finish
    incident, created = await flows.declare_incident(
        declaring, title="Checkout", severity=Severity.SEV1, declared_by=None, idempotency_key="k"
    )
    assert not created
    assert incident.number == first.number
    assert paged == [0, incident.number]


async def test_timelines_written_before_sql_kept_every_entry_are_backfilled_once(
    incident_store: IncidentStore, redis: Redis, keys: Keys, timeline_store: TimelineStore, engine: AsyncEngine
) -> None:
    """An upgrade from before migration 0005: entries only Redis has are kept in SQL (marked moved), once, by
    three processes at once or by a run after the done-marker was lost."""
    working = services(incident_store, redis, keys, timeline_store, engine)
    incident, _ = await flows.declare_incident(working, title="Checkout", severity=Severity.SEV1, declared_by="U1")
    await timeline.move_timeline(working)
    old = [
        TimelineEntry(NOW, EntryKind.NOTE, "U2", "Rolled back"),
        TimelineEntry(NOW, EntryKind.NOTE, "U2", "Rolled back"),
    ]
    for entry in old:  # as the old bot left them: in the stream, deleted from SQL
        await timeline_store.append(incident.number, entry)
    assert sum(await asyncio.gather(*[timeline.backfill_journal(working) for _ in range(3)])) == 2
    await redis.delete(keys.seen("backfill", "journal"))  # as if its marker were lost: running again keeps nothing
    assert await timeline.backfill_journal(working) == 0
    in_sql = [item.entry for item in await incident_store.journal.entries(incident.number)]
    assert sorted(e.kind for e in in_sql) == [EntryKind.DECLARED, EntryKind.NOTE, EntryKind.NOTE]
    assert await timeline.move_timeline(working) == 0  # kept as moved: the stream gets nothing twice
    assert len(await timeline_store.read(incident.number)) == 3
    await timeline_store.delete(incident.number)  # Redis lost it now: SQL has every entry to rebuild from
    assert len(await timeline.read_timeline(working, incident.number)) == 3


async def test_a_setup_that_outlasted_its_hold_keeps_the_channel_noted_first(
    incident_store: IncidentStore, redis: Redis, keys: Keys, timeline_store: TimelineStore, engine: AsyncEngine
) -> None:
    """Another setup noted a channel while this one's `conversations.create` was out: the first noted stays (an
    incident's channel never changes once noted), and the card goes there."""
    async with SlackEmulator() as slack:
        gateway = SlackGateway(AsyncWebClient(token="xoxb-test", base_url=slack.url))
        working = replace(services(incident_store, redis, keys, timeline_store, engine), slack=gateway)
        declared, _ = await flows.declare_incident(working, title="Checkout", severity=Severity.SEV1, declared_by=None)
        first = slack.add_channel("inc-1-checkout-first")
        slack.delay("conversations.create", 0.3)
        setting_up = asyncio.create_task(flows.open_channel(working, declared))
        await asyncio.sleep(0.1)
        other = IncidentStore(engine)  # the other process's setup
        await other.save(replace(await other.get(declared.number), channel_id=first, channel_name="inc-1-first"))
        done = await setting_up
        assert (await incident_store.get(declared.number)).channel_id == done.channel_id == first
        [card] = [call for call in slack.calls_to("chat.postMessage") if call.ok]
        assert card.args["channel"] == first
        assert await incident_store.set_up_channel(declared.number) == first
