"""Postmortems in SQL: the draft (its own fields, one row per section), action items, published revisions.

The draft lives in SQL, so it survives restarts and the loss of Redis. Each section is saved on its own, only
if it is still at the version the editor loaded (else `EditConflict` with what is stored now). Publishing
writes the postmortem, its revision (with the full timeline snapshot) and the incident's `closed` status in
one transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, String, Text, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.incident import Incident
from domain.postmortem import (
    ActionItem,
    ActionKind,
    EditConflict,
    ImpactWindow,
    ItemStatus,
    Postmortem,
    Priority,
    Section,
    SectionKey,
    State,
    TimelineEdits,
)
from domain.timeline import EntryKind, TimelineEntry
from storage.columns import UTCDateTime
from storage.effects import stage_effects
from storage.incidents import ConcurrentUpdate, Effects, save_in


class PostmortemRow(SQLModel, table=True):
    """A postmortem's own fields. Schema: migration 0006."""

    __tablename__ = "postmortems"
    __table_args__ = (Index("ix_postmortems_state", "state"),)

    number: int = Field(primary_key=True)
    state: str = Field(sa_type=String)
    owner: str | None = Field(sa_type=String)
    required: bool = Field(sa_type=Boolean)
    due: date | None = Field(sa_type=Date)
    started_at: datetime = Field(sa_type=UTCDateTime)
    whys: list[str] = Field(sa_type=JSON)
    reviewers: list[str] = Field(sa_type=JSON)
    approvals: list[str] = Field(sa_type=JSON)
    impact_started: datetime | None = Field(sa_type=UTCDateTime)
    impact_ended: datetime | None = Field(sa_type=UTCDateTime)
    timeline_edits: dict[str, Any] = Field(sa_type=JSON)
    channel_id: str | None = Field(sa_type=String)
    message_ts: str | None = Field(sa_type=String)
    revisions: int
    announced: int
    version: int


class SectionRow(SQLModel, table=True):
    __tablename__ = "postmortem_sections"

    number: int = Field(primary_key=True)
    key: str = Field(primary_key=True, sa_type=String)
    text: str = Field(sa_type=Text)
    version: int
    edited_by: str | None = Field(sa_type=String)
    edited_at: datetime | None = Field(sa_type=UTCDateTime)


class ActionItemRow(SQLModel, table=True):
    __tablename__ = "action_items"
    __table_args__ = (
        Index("ix_action_items_number", "number"),
        Index("ix_action_items_status_due", "status", "due"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    number: int
    text: str = Field(sa_type=Text)
    kind: str = Field(sa_type=String)
    owner: str | None = Field(sa_type=String)
    priority: str = Field(sa_type=String)
    due: date = Field(sa_type=Date)
    ticket_url: str | None = Field(sa_type=Text)
    status: str = Field(sa_type=String)


class RevisionRow(SQLModel, table=True):
    __tablename__ = "postmortem_revisions"

    number: int = Field(primary_key=True)
    revision: int = Field(primary_key=True)
    published_at: datetime = Field(sa_type=UTCDateTime)
    published_by: str | None = Field(sa_type=String)
    document: dict[str, Any] = Field(sa_type=JSON)
    markdown: str = Field(sa_type=Text)


@dataclass(frozen=True)
class Revision:
    number: int
    revision: int
    published_at: datetime
    published_by: str | None
    document: dict[str, Any]
    markdown: str


@dataclass(frozen=True)
class Publication:
    """What one publish writes: the postmortem's next state, the closed incident (first publish only), the
    incident's timeline entries for that, and the revision's document and Markdown."""

    postmortem: Postmortem
    closing: Incident | None
    entries: Sequence[TimelineEntry]
    document: dict[str, Any]
    markdown: str
    actor: str | None
    at: datetime


class PostmortemStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def add(self, postmortem: Postmortem, effects: Sequence[Effects] = ()) -> tuple[Postmortem, bool]:
        """Store a new draft (and its Slack `effects`); if the incident has one already, return that one (False)
        and queue nothing."""
        try:
            async with self._sessions.begin() as session:
                await session.exec(insert(PostmortemRow).values(**_values(postmortem), version=1))
                await _stage(session, effects)
        except IntegrityError:
            existing = await self.get(postmortem.number)
            if existing is None:
                raise
            return existing, False
        stored = await self.get(postmortem.number)
        assert stored is not None
        return stored, True

    async def get(self, number: int) -> Postmortem | None:
        async with self._sessions() as session:
            row = await session.get(PostmortemRow, number)
            if row is None:
                return None
            sections = (await session.exec(select(SectionRow).where(col(SectionRow.number) == number))).all()
        return _postmortem(row, sections)

    async def all(self) -> list[Postmortem]:
        """Every postmortem, newest incident first (sections not loaded)."""
        statement = select(PostmortemRow).order_by(col(PostmortemRow.number).desc())
        async with self._sessions() as session:
            rows = (await session.exec(statement)).all()
        return [_postmortem(row, ()) for row in rows]

    async def unannounced(self) -> list[Postmortem]:
        """Published postmortems whose latest revision's posts have not all gone out yet (sections not loaded)."""
        statement = select(PostmortemRow).where(col(PostmortemRow.announced) < col(PostmortemRow.revisions))
        async with self._sessions() as session:
            rows = (await session.exec(statement)).all()
        return [_postmortem(row, ()) for row in rows]

    async def save(self, postmortem: Postmortem, effects: Sequence[Effects] = ()) -> Postmortem:
        """Write the postmortem's own fields (and queue the change's Slack `effects`) if it is still at
        `postmortem.version`, else ConcurrentUpdate."""
        async with self._sessions.begin() as session:
            await _save_in(session, postmortem)
            await _stage(session, effects)
        stored = await self.get(postmortem.number)
        assert stored is not None
        return stored

    async def save_section(
        self,
        number: int,
        key: SectionKey,
        text: str,
        base_version: int,
        actor: str,
        at: datetime,
        effects: Sequence[Effects] = (),
    ) -> Section:
        """Save one section (with its Slack `effects`) if it is still at `base_version` (0: never saved), else
        raise EditConflict."""
        values = {"text": text, "version": base_version + 1, "edited_by": actor, "edited_at": at}
        saved = Section(key, text, base_version + 1, actor, at)
        if base_version == 0:
            try:
                async with self._sessions.begin() as session:
                    await session.exec(insert(SectionRow).values(number=number, key=key.value, **values))
                    await _stage(session, effects)
                return saved
            except IntegrityError:
                pass  # someone saved it first
        else:
            statement = (
                update(SectionRow)
                .where(
                    col(SectionRow.number) == number,
                    col(SectionRow.key) == key.value,
                    col(SectionRow.version) == base_version,
                )
                .values(**values)
                .returning(col(SectionRow.version))
            )
            async with self._sessions.begin() as session:
                if (await session.exec(statement)).scalar_one_or_none() is not None:
                    await _stage(session, effects)
                    return saved
        async with self._sessions() as session:
            current = await session.get(SectionRow, (number, key.value))
        raise EditConflict(_section(current) if current else Section(key))

    async def add_item(self, item: ActionItem, effects: Sequence[Effects] = ()) -> ActionItem:
        values = _item_values(item)
        async with self._sessions.begin() as session:
            row = (await session.exec(insert(ActionItemRow).values(**values).returning(ActionItemRow))).scalar_one()
            await _stage(session, effects)
        return _item(row)

    async def item(self, item_id: int) -> ActionItem | None:
        async with self._sessions() as session:
            row = await session.get(ActionItemRow, item_id)
        return None if row is None else _item(row)

    async def set_item_status(
        self, item_id: int, status: ItemStatus, effects: Sequence[Effects] = ()
    ) -> ActionItem | None:
        """Set an item's status (queueing `effects` with it); None, and nothing queued, if there is no such item."""
        statement = (
            update(ActionItemRow)
            .where(col(ActionItemRow.id) == item_id)
            .values(status=status.value)
            .returning(ActionItemRow)
        )
        async with self._sessions.begin() as session:
            row = (await session.exec(statement)).scalar_one_or_none()
            if isinstance(row, ActionItemRow):
                await _stage(session, effects)
        return _item(row) if isinstance(row, ActionItemRow) else None

    async def items(self, number: int | None = None, status: ItemStatus | None = None) -> list[ActionItem]:
        """Action items of one incident (or all), by due date; optionally only those with `status`."""
        statement = select(ActionItemRow).order_by(col(ActionItemRow.due), col(ActionItemRow.id))
        if number is not None:
            statement = statement.where(col(ActionItemRow.number) == number)
        if status is not None:
            statement = statement.where(col(ActionItemRow.status) == status.value)
        async with self._sessions() as session:
            rows = (await session.exec(statement)).all()
        return [_item(row) for row in rows]

    async def publish(self, publication: Publication, effects: Sequence[Effects] = ()) -> Postmortem:
        """In one transaction: the postmortem's new state, its revision, the incident closed, and `effects`."""
        pm = publication.postmortem
        revision = {
            "number": pm.number,
            "revision": pm.revisions,
            "published_at": publication.at,
            "published_by": publication.actor,
            "document": publication.document,
            "markdown": publication.markdown,
        }
        async with self._sessions.begin() as session:
            await _save_in(session, pm)
            await session.exec(insert(RevisionRow).values(**revision))
            closing = publication.closing
            connection = await session.connection()
            if closing is not None and await save_in(connection, closing, publication.entries) is None:
                raise ConcurrentUpdate(f"Incident #{pm.number} changed while its postmortem was published.")
            await _stage(session, effects)
        stored = await self.get(pm.number)
        assert stored is not None
        return stored

    async def revisions(self, number: int) -> list[Revision]:
        """Every published revision, oldest first."""
        statement = select(RevisionRow).where(col(RevisionRow.number) == number).order_by(col(RevisionRow.revision))
        async with self._sessions() as session:
            rows = (await session.exec(statement)).all()
        return [Revision(r.number, r.revision, r.published_at, r.published_by, r.document, r.markdown) for r in rows]


async def _stage(session: AsyncSession, effects: Sequence[Effects]) -> None:
    for key, bodies, now in effects:
        await stage_effects(await session.connection(), key, bodies, now)


async def _save_in(session: AsyncSession, postmortem: Postmortem) -> None:
    statement = (
        update(PostmortemRow)
        .where(col(PostmortemRow.number) == postmortem.number, col(PostmortemRow.version) == postmortem.version)
        .values(**_values(postmortem), version=postmortem.version + 1)
        .returning(col(PostmortemRow.version))
    )
    if (await session.exec(statement)).scalar_one_or_none() is None:
        raise ConcurrentUpdate(f"The postmortem of #{postmortem.number} changed since it was loaded.")


def _values(pm: Postmortem) -> dict[str, Any]:
    return {
        "number": pm.number,
        "state": pm.state.value,
        "owner": pm.owner,
        "required": pm.required,
        "due": pm.due,
        "started_at": pm.started_at,
        "whys": list(pm.whys),
        "reviewers": list(pm.reviewers),
        "approvals": list(pm.approvals),
        "impact_started": pm.impact.started,
        "impact_ended": pm.impact.ended,
        "timeline_edits": _edits_json(pm.timeline),
        "channel_id": pm.channel_id,
        "message_ts": pm.message_ts,
        "revisions": pm.revisions,
        "announced": pm.announced,
    }


def _postmortem(row: PostmortemRow, sections: Sequence[SectionRow]) -> Postmortem:
    return Postmortem(
        number=row.number,
        state=State(row.state),
        owner=row.owner,
        required=row.required,
        due=row.due,
        started_at=row.started_at,
        sections={SectionKey(s.key): _section(s) for s in sections},
        whys=tuple(row.whys),
        reviewers=tuple(row.reviewers),
        approvals=tuple(row.approvals),
        impact=ImpactWindow(row.impact_started, row.impact_ended),
        timeline=_edits(row.timeline_edits),
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        revisions=row.revisions,
        announced=row.announced,
        version=row.version,
    )


def _edits_json(edits: TimelineEdits) -> dict[str, Any]:
    added = [
        {"at": e.at.astimezone(UTC).isoformat(), "kind": e.kind.value, "actor": e.actor, "text": e.text}
        for e in edits.added
    ]
    return {"key": sorted(edits.key), "excluded": sorted(edits.excluded), "added": added}


def _edits(raw: dict[str, Any]) -> TimelineEdits:
    added = tuple(
        TimelineEntry(datetime.fromisoformat(e["at"]), EntryKind(e["kind"]), e["actor"], e["text"])
        for e in raw.get("added", [])
    )
    return TimelineEdits(frozenset(raw.get("key", [])), frozenset(raw.get("excluded", [])), added)


def _section(row: SectionRow) -> Section:
    return Section(SectionKey(row.key), row.text, row.version, row.edited_by, row.edited_at)


def _item_values(item: ActionItem) -> dict[str, Any]:
    return {
        "number": item.number,
        "text": item.text,
        "kind": item.kind.value,
        "owner": item.owner,
        "priority": item.priority.value,
        "due": item.due,
        "ticket_url": item.ticket_url,
        "status": item.status.value,
    }


def _item(row: ActionItemRow) -> ActionItem:
    assert row.id is not None
    return ActionItem(
        id=row.id,
        number=row.number,
        text=row.text,
        kind=ActionKind(row.kind),
        owner=row.owner,
        priority=Priority(row.priority),
        due=row.due,
        ticket_url=row.ticket_url,
        status=ItemStatus(row.status),
    )
