"""On-call overrides in SQL: someone takes (part of) a rotation's shift."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.rotation import Override
from storage.columns import UTCDateTime
from storage.db import autocommit


class OverrideRow(SQLModel, table=True):
    """One override. Its schema is created by migration 0003."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_rotation_end", "rotation", "end_at"),)

    id: int | None = Field(default=None, primary_key=True)
    rotation: str = Field(sa_type=String)
    user_id: str = Field(sa_type=String)
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, sa_type=String)
    created_at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True)
class StoredOverride:
    """An override with its id and who set it."""

    id: int
    override: Override
    created_by: str | None


class OverrideStore:
    def __init__(self, engine: AsyncEngine) -> None:
        # each method is one statement: on PostgreSQL it runs in autocommit, without a BEGIN and a COMMIT round trip
        self._sessions = async_sessionmaker(autocommit(engine), class_=AsyncSession, expire_on_commit=False)

    async def add(self, override: Override, created_by: str | None, created_at: datetime) -> int:
        """Store an override; its id."""
        values = {
            "rotation": override.rotation,
            "user_id": override.user,
            "start_at": override.start,
            "end_at": override.end,
            "created_by": created_by,
            "created_at": created_at,
        }
        async with self._sessions.begin() as session:
            result = await session.exec(insert(OverrideRow).values(**values).returning(col(OverrideRow.id)))
            return int(result.scalar_one())

    async def get(self, override_id: int) -> StoredOverride | None:
        async with self._sessions() as session:
            row = await session.get(OverrideRow, override_id)
        return _stored(row) if row is not None else None

    async def remove(self, override_id: int) -> bool:
        """Delete an override; False when there was none with that id."""
        async with self._sessions.begin() as session:
            result = await session.exec(delete(OverrideRow).where(col(OverrideRow.id) == override_id))
            return bool(result.rowcount)

    async def listed(self, rotation: str | None, after: datetime) -> list[StoredOverride]:
        """Overrides (of one rotation, or all) still running after `after`, with their ids, oldest first."""
        statement = select(OverrideRow).where(col(OverrideRow.end_at) > after).order_by(col(OverrideRow.id))
        if rotation is not None:
            statement = statement.where(col(OverrideRow.rotation) == rotation)
        async with self._sessions() as session:
            rows: Sequence[OverrideRow] = (await session.exec(statement)).all()
        return [_stored(row) for row in rows]

    async def ending_after(self, rotation: str | None, after: datetime) -> list[Override]:
        """Overrides (of one rotation, or all) still running after `after`, oldest first (newer ones win)."""
        return [stored.override for stored in await self.listed(rotation, after)]


def _stored(row: OverrideRow) -> StoredOverride:
    assert row.id is not None
    return StoredOverride(row.id, Override(row.rotation, row.user_id, row.start_at, row.end_at), row.created_by)
