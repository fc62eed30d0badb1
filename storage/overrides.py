"""On-call overrides in SQL: someone takes (part of) a rotation's shift."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Index, String, insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.rotation import Override
from storage.columns import UTCDateTime


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


class OverrideStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def add(self, override: Override, created_by: str | None, created_at: datetime) -> None:
        values = {
            "rotation": override.rotation,
            "user_id": override.user,
            "start_at": override.start,
            "end_at": override.end,
            "created_by": created_by,
            "created_at": created_at,
        }
        async with self._sessions.begin() as session:
            await session.exec(insert(OverrideRow).values(**values))

    async def ending_after(self, rotation: str | None, after: datetime) -> list[Override]:
        """Overrides (of one rotation, or all) still running after `after`, oldest first (newer ones win)."""
        statement = select(OverrideRow).where(col(OverrideRow.end_at) > after).order_by(col(OverrideRow.id))
        if rotation is not None:
            statement = statement.where(col(OverrideRow.rotation) == rotation)
        async with self._sessions() as session:
            rows: Sequence[OverrideRow] = (await session.exec(statement)).all()
        return [Override(row.rotation, row.user_id, row.start_at, row.end_at) for row in rows]
