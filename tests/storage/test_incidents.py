"""IncidentStore against real SQLite and PostgreSQL (each test runs on both through `database_url`)."""

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import IncidentNotFound
from domain.incident import Incident
from domain.severity import Severity
from domain.status import Status
from domain.timeline import EntryKind, TimelineEntry
from storage.incidents import ConcurrentUpdate, IncidentStore

MakeIncident = Callable[..., Incident]
LATER = datetime(2024, 5, 1, 10, 15, 0, 654321, tzinfo=UTC)


async def _row_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count: int = (await connection.execute(sqlalchemy.text("SELECT COUNT(*) FROM incidents"))).scalar_one()
    return count


async def test_add_assigns_sequential_numbers(incident_store: IncidentStore, make_incident: MakeIncident):
    """The database numbers incidents 1, 2, 3 in the order they are added."""
    added = [await incident_store.add(make_incident(title=f"Incident {i}")) for i in range(3)]
    assert [(incident.number, created) for incident, created in added] == [(1, True), (2, True), (3, True)]


async def test_add_returns_what_get_reads(incident_store: IncidentStore, make_incident: MakeIncident):
    """The stored incident equals the input apart from its number and first revision, and get reads it back."""
    incident = make_incident(description="Payments fail with 502", roles={"comms": "U0COMMS"})
    stored, _ = await incident_store.add(incident)
    assert stored == replace(incident, number=1, revision=1)
    assert await incident_store.get(1) == stored


async def test_add_with_a_known_idempotency_key_returns_the_existing_incident(
    incident_store: IncidentStore, make_incident: MakeIncident, engine: AsyncEngine
):
    """A repeated key stores nothing and returns the first incident with created False."""
    first, created = await incident_store.add(make_incident(), idempotency_key="trigger-1")
    again, created_again = await incident_store.add(make_incident(title="Duplicate"), idempotency_key="trigger-1")
    assert (created, created_again) == (True, False)
    assert again == first
    assert await _row_count(engine) == 1


async def test_concurrent_adds_with_one_key_store_one_incident(
    incident_store: IncidentStore, make_incident: MakeIncident, engine: AsyncEngine
):
    """Adds racing with the same key: exactly one creates, all return that incident, one row exists."""
    results = await asyncio.gather(
        *(incident_store.add(make_incident(), idempotency_key="trigger-1") for _ in range(4))
    )
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({incident.number for incident, _ in results}) == 1  # PostgreSQL may skip a number in a race
    assert await _row_count(engine) == 1


async def test_different_idempotency_keys_store_different_incidents(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Distinct keys (and no key at all) each get their own incident."""
    results = [
        await incident_store.add(make_incident(), idempotency_key="a"),
        await incident_store.add(make_incident(), idempotency_key="b"),
        await incident_store.add(make_incident()),
        await incident_store.add(make_incident()),
    ]
    assert [(incident.number, created) for incident, created in results] == [(1, True), (2, True), (3, True), (4, True)]


async def test_add_with_a_taken_channel_raises_integrity_error(
    incident_store: IncidentStore, make_incident: MakeIncident, engine: AsyncEngine
):
    """Two incidents cannot share a channel, even when an idempotency key is given."""
    await incident_store.add(make_incident(channel_id="C0CHANNEL"))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await incident_store.add(make_incident(channel_id="C0CHANNEL"), idempotency_key="other")
    assert await _row_count(engine) == 1


async def test_get_unknown_number_raises_incident_not_found(incident_store: IncidentStore):
    """Asking for a number nobody declared raises IncidentNotFound naming it."""
    with pytest.raises(IncidentNotFound, match="#42"):
        await incident_store.get(42)


async def test_find_by_channel(incident_store: IncidentStore, make_incident: MakeIncident):
    """The incident whose channel it is comes back; an unknown channel gives None."""
    await incident_store.add(make_incident(channel_id="C0OTHER", channel_name="inc-1-other"))
    stored, _ = await incident_store.add(make_incident(channel_id="C0CHECKOUT", channel_name="inc-2-checkout-is-down"))
    assert await incident_store.find_by_channel("C0CHECKOUT") == stored
    assert await incident_store.find_by_channel("C0UNKNOWN") is None


async def test_list_is_newest_first_and_can_skip_resolved(incident_store: IncidentStore, make_incident: MakeIncident):
    """All incidents list by number descending; open_only drops the resolved ones."""
    await incident_store.add(make_incident(status=Status.INVESTIGATING, acknowledged_at=LATER))
    await incident_store.add(make_incident(status=Status.RESOLVED, acknowledged_at=LATER, resolved_at=LATER))
    await incident_store.add(make_incident())
    every = await incident_store.list(open_only=False)
    still_open = await incident_store.list(open_only=True)
    assert [incident.number for incident in every] == [3, 2, 1]
    assert [incident.number for incident in still_open] == [3, 1]


async def test_list_of_an_empty_table_is_empty(incident_store: IncidentStore):
    """No incidents: both listings are empty."""
    assert await incident_store.list(open_only=False) == []
    assert await incident_store.list(open_only=True) == []
    assert await incident_store.most_severe_open(5) == ([], 0)


async def test_most_severe_open_reads_the_first_few_and_counts_them_all(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """SEV-1 first, newest first within a severity, resolved ones left out, the count of every open one."""
    severities = [Severity.SEV3, Severity.SEV1, Severity.SEV2, Severity.SEV1, Severity.SEV4, Severity.SEV2]
    for severity in severities:
        await incident_store.add(make_incident(severity=severity))
    resolved = make_incident(severity=Severity.SEV1, status=Status.RESOLVED, acknowledged_at=LATER, resolved_at=LATER)
    await incident_store.add(resolved)  # number 7
    listed, open_count = await incident_store.most_severe_open(4)
    assert [(incident.number, incident.severity) for incident in listed] == [
        (4, Severity.SEV1),
        (2, Severity.SEV1),
        (6, Severity.SEV2),
        (3, Severity.SEV2),
    ]
    assert open_count == 6
    every, count = await incident_store.most_severe_open(100)
    assert [incident.number for incident in every] == [4, 2, 6, 3, 1, 5]
    assert count == 6


async def test_save_persists_every_field_and_bumps_the_revision(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Every mutable field written by save reads back equal, timestamps aware UTC, revision + 1."""
    stored, _ = await incident_store.add(make_incident())
    changed = replace(
        stored,
        title="Checkout and cart are down",
        description="Also the cart",
        severity=Severity.SEV1,
        status=Status.RESOLVED,
        commander="U0COMMANDER",
        roles={"commander": "U0COMMANDER", "comms": "U0COMMS"},
        acknowledged_at=LATER,
        resolved_at=LATER + timedelta(hours=1),
        summary="Rolled back the deploy",
        channel_id="C0CHECKOUT",
        channel_name="inc-1-checkout-is-down",
        card_ts="1714555815.000100",
        announcement_ts="1714555816.000200",
    )
    saved = await incident_store.save(changed)
    loaded = await incident_store.get(stored.number)
    assert saved == replace(changed, revision=stored.revision + 1)
    assert loaded == saved
    assert loaded.acknowledged_at is not None
    assert loaded.resolved_at is not None
    assert {moment.tzinfo for moment in (loaded.declared_at, loaded.acknowledged_at, loaded.resolved_at)} == {UTC}


async def test_save_can_clear_optional_fields(incident_store: IncidentStore, make_incident: MakeIncident):
    """Saving None over a stored value (a reopen clears resolved_at) stores None."""
    stored, _ = await incident_store.add(make_incident(status=Status.RESOLVED, resolved_at=LATER, commander="U0C"))
    saved = await incident_store.save(replace(stored, status=Status.INVESTIGATING, resolved_at=None, commander=None))
    loaded = await incident_store.get(stored.number)
    assert (loaded.status, loaded.resolved_at, loaded.commander) == (Status.INVESTIGATING, None, None)
    assert loaded == saved


async def test_times_with_other_offsets_are_stored_as_the_same_instant_in_utc(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """An aware non-UTC time reads back equal, expressed in UTC."""
    local = LATER.astimezone(timezone(timedelta(hours=-7)))
    stored, _ = await incident_store.add(make_incident(declared_at=local))
    loaded = await incident_store.get(stored.number)
    assert loaded.declared_at == local
    assert loaded.declared_at.tzinfo is UTC


async def test_naive_times_are_refused(incident_store: IncidentStore, make_incident: MakeIncident, engine: AsyncEngine):
    """A naive time would be ambiguous, so add raises and stores nothing."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await incident_store.add(make_incident(declared_at=datetime(2024, 5, 1, 9, 30)))
    assert await _row_count(engine) == 0


async def test_stale_save_raises_concurrent_update_and_changes_nothing(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Saving a copy loaded before someone else's save raises ConcurrentUpdate; the other save stands."""
    stored, _ = await incident_store.add(make_incident())
    theirs = await incident_store.save(replace(stored, severity=Severity.SEV1))
    with pytest.raises(ConcurrentUpdate):
        await incident_store.save(replace(stored, title="Lost update"))
    assert await incident_store.get(stored.number) == theirs


async def test_concurrent_saves_of_one_revision_let_exactly_one_win(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Two saves racing from the same revision: one succeeds, the other raises ConcurrentUpdate."""
    stored, _ = await incident_store.add(make_incident())
    results = await asyncio.gather(
        incident_store.save(replace(stored, summary="first")),
        incident_store.save(replace(stored, summary="second")),
        return_exceptions=True,
    )
    winners = [result for result in results if isinstance(result, Incident)]
    assert len(winners) == 1
    assert sum(isinstance(result, ConcurrentUpdate) for result in results) == 1
    assert await incident_store.get(stored.number) == winners[0]


async def test_save_of_an_unknown_number_raises_incident_not_found(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Saving an incident that was never stored raises IncidentNotFound, not ConcurrentUpdate."""
    with pytest.raises(IncidentNotFound, match="#9"):
        await incident_store.save(make_incident(number=9, revision=1))


async def test_a_change_and_its_timeline_entries_are_stored_together(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Entries ride in the change's transaction; a refused save stores none; moved entries are kept, marked."""
    declared = TimelineEntry(LATER, EntryKind.DECLARED, "U1", "Declared")
    stored, _ = await incident_store.add(make_incident(), entries=[declared])
    acked = TimelineEntry(LATER, EntryKind.ACKNOWLEDGED, "U2", "Acknowledged")
    saved = await incident_store.save(replace(stored, status=Status.ACKNOWLEDGED, acknowledged_at=LATER), [acked])
    with pytest.raises(ConcurrentUpdate):
        await incident_store.save(
            replace(stored, status=Status.RESOLVED), [TimelineEntry(LATER, EntryKind.RESOLVED, None, "x")]
        )
    journal = incident_store.journal
    pending = await journal.pending(saved.number)
    assert [item.entry for item in pending] == [declared, acked]
    assert await journal.pending(saved.number + 1) == []
    await journal.mark_moved([pending[0].id])
    assert [item.entry for item in await journal.pending()] == [acked]
    assert [item.entry for item in await journal.entries(saved.number)] == [declared, acked]
    assert await journal.moved_counts() == {saved.number: 1}


async def test_a_repeated_declaration_stores_no_entries(incident_store: IncidentStore, make_incident: MakeIncident):
    entry = TimelineEntry(LATER, EntryKind.DECLARED, "U1", "Declared")
    await incident_store.add(make_incident(), idempotency_key="trigger-1", entries=[entry])
    await incident_store.add(make_incident(), idempotency_key="trigger-1", entries=[entry])
    assert len(await incident_store.journal.pending()) == 1


async def test_an_entry_with_a_once_token_is_kept_once(incident_store: IncidentStore, make_incident: MakeIncident):
    """The journal refuses a second entry with the same once-token for one incident, not for another."""
    entry = TimelineEntry(LATER, EntryKind.NOTE, "U1", "Pinned")
    first, _ = await incident_store.add(make_incident())
    second, _ = await incident_store.add(make_incident())
    journal = incident_store.journal
    kept = [await journal.add(first.number, entry, "ts-1"), await journal.add(first.number, entry, "ts-1")]
    assert [*kept, await journal.add(second.number, entry, "ts-1")] == [True, False, True]


async def test_entries_kept_together_skip_once_tokens_already_written_or_repeated(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """`add_all` keeps a batch in one statement: an entry whose once-token the incident has, or had earlier in
    the batch, is not kept; entries without a token always are; the kept ones come back with their ids."""
    incident, _ = await incident_store.add(make_incident())
    journal = incident_store.journal
    old, new, note = (TimelineEntry(LATER, EntryKind.ALERT_FIRING, None, text) for text in ("old", "new", "note"))
    assert await journal.add(incident.number, old, "alert:a")
    kept = await journal.add_all(
        incident.number, [(old, "alert:a"), (new, "alert:b"), (new, "alert:b"), (note, None), (note, None)]
    )
    assert [item is not None for item in kept] == [False, True, False, True, True]
    stored = await journal.entries(incident.number)
    assert [item.entry for item in stored] == [old, new, note, note]
    assert [item.id for item in kept if item is not None] == [item.id for item in stored[1:]]
    assert await journal.add_all(incident.number, []) == []


def _statements(engine: AsyncEngine, starting: str) -> list[str]:
    """The statements the engine sends from now on that start with `starting` (SQLAlchemy's own event)."""
    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith(starting):
            sent.append(statement)

    sqlalchemy.event.listen(engine.sync_engine, "before_cursor_execute", record)
    return sent


async def test_entries_kept_together_by_several_callers_share_one_statement(
    engine: AsyncEngine, incident_store: IncidentStore, make_incident: MakeIncident
):
    """`add_all` calls made while one is out go in one INSERT after it; each caller gets its own entries, with
    the ids SQL gave them, its once-tokens judged per incident and in the callers' order."""
    first, _ = await incident_store.add(make_incident())
    second, _ = await incident_store.add(make_incident())
    journal = incident_store.journal
    a, b, c = (TimelineEntry(LATER, EntryKind.ALERT_FIRING, None, text) for text in ("a", "b", "c"))
    assert await journal.add(first.number, a, "alert:a")
    inserts = _statements(engine, "INSERT")
    kept = await asyncio.gather(
        journal.add_all(first.number, [(a, "alert:a"), (b, "alert:b"), (c, None)]),
        journal.add_all(second.number, [(a, "alert:a"), (c, None)]),
        journal.add_all(first.number, [(b, "alert:b"), (a, None)]),  # its alert:b came earlier in the turn
    )
    assert len(inserts) == 2  # the first alone, at once; the two made meanwhile together
    assert [[item is not None for item in call] for call in kept] == [[False, True, True], [True, True], [False, True]]
    for number in (first.number, second.number):
        stored = {item.id: item for item in await journal.entries(number)}
        ours = [item for call in kept for item in call if item is not None and item.number == number]
        assert all(stored[item.id] == item for item in ours)
    assert [item.entry for item in await journal.entries(first.number)] == [a, b, c, a]
    assert [item.entry for item in await journal.entries(second.number)] == [a, c]
    marks = _statements(engine, "UPDATE")
    await asyncio.gather(*(journal.mark_moved([item.id for item in call if item]) for call in kept))
    assert len(marks) == 2
    assert [item.entry for item in await journal.pending()] == [a]  # the one added alone, never moved


async def test_latest_from_source_read_together_gives_each_group_its_own(
    engine: AsyncEngine, incident_store: IncidentStore, make_incident: MakeIncident
):
    """Reads of several groups' newest incidents made while one is out share one SELECT after it; each gets
    its own, or None."""
    await incident_store.add(make_incident(source_group_key="g1"))
    await incident_store.add(make_incident(source_group_key="g2"))
    newest, _ = await incident_store.add(make_incident(source_group_key="g1"))
    selects = _statements(engine, "SELECT")
    latest = await asyncio.gather(*(incident_store.latest_from_source(key) for key in ("g1", "g2", "g3", "g1")))
    assert len(selects) == 2  # the first alone, the three made meanwhile together
    assert [incident.number if incident else None for incident in latest] == [newest.number, 2, None, newest.number]
    assert await incident_store.latest_from_source("g1") == newest


async def test_more_entries_than_one_page_of_rows_are_each_kept_with_their_own_id(
    incident_store: IncidentStore, make_incident: MakeIncident
):
    """Past the thousand rows SQLAlchemy sends at a time, every entry still comes back with the id SQL gave it."""
    first, _ = await incident_store.add(make_incident())
    second, _ = await incident_store.add(make_incident())
    journal = incident_store.journal
    entries = [(TimelineEntry(LATER, EntryKind.NOTE, None, f"n{n}"), f"t{n}" if n % 3 else None) for n in range(1500)]
    kept = await asyncio.gather(journal.add_all(first.number, entries), journal.add_all(second.number, entries[:10]))
    for number, call in zip((first.number, second.number), kept, strict=True):
        stored = {item.id: item for item in await journal.entries(number)}
        assert [item.entry.text for item in call if item] == [entry.text for entry, _ in entries[: len(call)]]
        assert all(stored[item.id] == item for item in call if item)


async def test_the_channel_of_a_set_up_incident_is_remembered(
    incident_store: IncidentStore, make_incident: MakeIncident, engine: AsyncEngine
):
    """`set_up_channel` is None until the channel and the card are noted; from then on this store answers
    without a read, also after another process noted the card gone (a new store reads it and says None)."""
    stored, _ = await incident_store.add(make_incident())
    assert await incident_store.set_up_channel(stored.number) is None
    with_channel = await incident_store.save(replace(stored, channel_id="C0SETUP", channel_name="inc-1"))
    assert await incident_store.set_up_channel(stored.number) is None  # no card yet: posts wait for it
    set_up = await incident_store.save(replace(with_channel, card_ts="1.000"))
    elsewhere = IncidentStore(engine)
    await elsewhere.save(replace(set_up, card_ts=None))  # another process finds the card deleted
    assert await incident_store.set_up_channel(stored.number) == "C0SETUP"
    assert await incident_store.beside(engine).set_up_channel(stored.number) == "C0SETUP"  # the urgent pool's
    assert await elsewhere.set_up_channel(stored.number) is None
    with pytest.raises(IncidentNotFound):
        await incident_store.set_up_channel(99)
