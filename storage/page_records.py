"""Escalations in SQL, the record: each page with its step, round, status and the timer that drives it next.

Redis holds the live copy (the page hash and its timer). The repair sweep re-arms, from here, an active
page whose hash or timer Redis lost.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, Text, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.columns import UTCDateTime, utc
from storage.db import autocommit


class PageRow(SQLModel, table=True):
    """One page. Schema: migration 0005."""

    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_number", "number"), Index("ix_pages_status", "status"))

    id: str = Field(primary_key=True, sa_type=String)
    number: int
    policy: str = Field(sa_type=String)
    step: int
    round: int
    status: str = Field(sa_type=String)
    due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    timer: str | None = Field(default=None, sa_type=Text)


@dataclass(frozen=True)
class StoredPage:
    id: str
    number: int
    policy: str
    step: int
    round: int
    status: str
    due: datetime | None
    timer: dict[str, object] | None


class PageRecords:
    def __init__(self, engine: AsyncEngine) -> None:
        # each method is one statement (`finish`'s UPDATE decides; its SELECT only tells a missing page): on
        # PostgreSQL each runs in autocommit, without a BEGIN and a COMMIT round trip
        self._sessions = async_sessionmaker(autocommit(engine), class_=AsyncSession, expire_on_commit=False)

    async def add(self, page: StoredPage) -> bool:
        """Store a new page; False if one with its id exists (then nothing changes)."""
        values = {
            "id": page.id,
            "number": page.number,
            "policy": page.policy,
            "step": page.step,
            "round": page.round,
            "status": page.status,
            "due": None if page.due is None else utc(page.due),
            "timer": None if page.timer is None else json.dumps(page.timer),
        }
        try:
            async with self._sessions.begin() as session:
                await session.exec(insert(PageRow).values(**values))
        except IntegrityError:
            return False
        return True

    async def move(self, page_id: str, step: int, round_: int) -> None:
        await self._update(page_id, step=step, round=round_)

    async def schedule(self, page_id: str, due: datetime, body: dict[str, object]) -> None:
        """The page's next timer (due time and body), so it can be re-armed."""
        await self._update(page_id, due=utc(due), timer=json.dumps(body))

    async def finish(self, page_id: str, active: str, status: str) -> bool | None:
        """Move an active page to `status`; True only for the call that moved it, None if SQL has no such page
        (one started before SQL kept pages)."""
        statement = (
            update(PageRow)
            .where(col(PageRow.id) == page_id, col(PageRow.status) == active)
            .values(status=status)
            .returning(col(PageRow.id))
        )
        async with self._sessions.begin() as session:
            if (await session.exec(statement)).first() is not None:
                return True
            exists = (await session.exec(select(PageRow.id).where(col(PageRow.id) == page_id))).first()
        return False if exists is not None else None

    async def with_status(self, status: str, number: int | None = None) -> list[StoredPage]:
        """Pages in `status` (of one incident, or all), by id."""
        statement = select(PageRow).where(col(PageRow.status) == status).order_by(col(PageRow.id))
        if number is not None:
            statement = statement.where(col(PageRow.number) == number)
        async with self._sessions() as session:
            rows: Sequence[PageRow] = (await session.exec(statement)).all()
        return [_page(row) for row in rows]

    async def _update(self, page_id: str, **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.exec(update(PageRow).where(col(PageRow.id) == page_id).values(**values))


def _page(row: PageRow) -> StoredPage:
    timer = json.loads(row.timer) if row.timer else None
    return StoredPage(row.id, row.number, row.policy, row.step, row.round, row.status, row.due, timer)
