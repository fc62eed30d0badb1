"""PostmortemStore keeps a change's Slack effects with the change (SQLite and PostgreSQL through `database_url`)."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.incident import Incident
from domain.postmortem import EditConflict, ItemStatus, Policy, SectionKey, start
from domain.status import Status
from storage.effects import EffectStore
from storage.incidents import ConcurrentUpdate, IncidentStore
from storage.postmortems import PostmortemStore

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
KEY = "postmortem:1"


def _queue(kind: str) -> list[tuple[str, list[dict[str, object]], datetime]]:
    return [(KEY, [{"kind": kind}], NOW)]


async def test_effects_are_queued_with_their_change_and_never_with_a_refused_one(
    engine: AsyncEngine, incident_store: IncidentStore, make_incident: Callable[..., Incident]
) -> None:
    """Each write queues its effects in its own transaction; a stale save, a second draft, a lost section
    conflict and an unknown item queue none."""
    incident, _ = await incident_store.add(make_incident(status=Status.RESOLVED, resolved_at=NOW))
    store = PostmortemStore(engine)
    pm, created = await store.add(start(incident, Policy(), NOW), _queue("started"))
    assert created
    assert (await store.add(start(incident, Policy(), NOW), _queue("second draft")))[1] is False
    await store.save(replace(pm, owner="U0BOB"), _queue("owner"))
    with pytest.raises(ConcurrentUpdate):
        await store.save(replace(pm, owner="U0CAROL"), _queue("stale owner"))
    await store.save_section(1, SectionKey.SUMMARY, "text", 0, "U0BOB", NOW, _queue("section"))
    with pytest.raises(EditConflict):
        await store.save_section(1, SectionKey.SUMMARY, "other", 0, "U0CAROL", NOW, _queue("stale section"))
    assert await store.set_item_status(99, ItemStatus.DONE, _queue("unknown item")) is None
    queued = await EffectStore(engine).due(NOW, key=KEY)
    assert [effect.body["kind"] for effect in queued] == ["started", "owner", "section"]
