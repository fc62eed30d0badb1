"""The SQL aggregates the metrics are computed from: one query per figure family, never a loop over incidents.

Drills are never selected. Duration averages take closed incidents only (`resolved_at` set, so a reopened
incident counts only once it is resolved again). Percentiles are `percentile_cont` on PostgreSQL; SQLite has
none, so there the two values around the rank are read with ORDER BY ... LIMIT 1 OFFSET k on an index.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from domain.metrics import DurationStats, Window, interpolate, percentile_positions
from storage.incidents import IncidentRow, UTCDateTime

_T = IncidentRow.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Filter:
    window: Window
    service: str | None = None
    severity: int | None = None


@dataclass(frozen=True)
class SeverityRow:
    severity: int
    count: int
    open: int
    mtta: float | None
    mttr: float | None
    response_met: int
    response_judged: int
    resolution_met: int
    resolution_judged: int


@dataclass(frozen=True)
class ServiceRow:
    service: str
    count: int
    first_start: datetime | None
    last_start: datetime | None
    impact_seconds: float


@dataclass(frozen=True)
class Aggregates:
    ack: DurationStats
    resolve: DurationStats
    detect: DurationStats
    severities: list[SeverityRow] = field(default_factory=list)
    services: list[ServiceRow] = field(default_factory=list)
    open_now: int = 0


@dataclass(frozen=True)
class ReportRow:
    number: int
    title: str
    severity: int
    service: str | None
    status: str
    declared_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None


class MetricsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def aggregates(self, where: Filter, now: datetime) -> Aggregates:
        async with self._engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            base = _selected(where)
            closed = and_(base, col(IncidentRow.resolved_at).is_not(None))
            ack = await _stats(connection, _T.ack_seconds, closed, postgres)
            resolve = await _stats(connection, _T.resolve_seconds, closed, postgres)
            detect_seconds = _seconds(_T.impact_started_at, _T.declared_at, postgres)
            detect = await _stats(connection, detect_seconds, and_(closed, _T.impact_started_at.is_not(None)), postgres)
            severities = await _severities(connection, base, _at(now))
            services = await _services(connection, where, now, postgres)
            open_now = await connection.scalar(
                select(func.count()).where(_T.drill.is_(False), _T.resolved_at.is_(None))
            )
        return Aggregates(ack, resolve, detect, severities, services, int(open_now or 0))

    async def open_by_severity(self) -> dict[int, int]:
        """Open incidents (not drills) per severity, for the Prometheus gauge."""
        statement = (
            select(_T.severity, func.count()).where(_T.drill.is_(False), _T.resolved_at.is_(None)).group_by(_T.severity)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return {int(severity): int(count) for severity, count in rows}

    async def report(self, window: Window) -> list[ReportRow]:
        """Every incident (not drills) declared in the window, oldest first."""
        columns = [getattr(_T, name) for name in ReportRow.__dataclass_fields__]
        statement = select(*columns).where(_selected(Filter(window))).order_by(_T.number)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [ReportRow(*row) for row in rows]

    async def unarmed(self) -> list[int]:
        """Open incidents whose target due times were never recorded."""
        statement = select(_T.number).where(_T.resolved_at.is_(None), _T.response_due_at.is_(None))
        async with self._engine.connect() as connection:
            return [int(n) for n in (await connection.execute(statement)).scalars()]

    async def set_due(self, number: int, response: datetime | None, resolution: datetime | None) -> None:
        """Record the target due times the clocks run to (re-evaluated when the severity changes)."""
        statement = (
            update(IncidentRow)
            .where(col(IncidentRow.number) == number)
            .values(response_due_at=response, resolution_due_at=resolution)
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)


def _selected(where: Filter) -> ColumnElement[bool]:
    conditions = [
        _T.drill.is_(False),
        _T.declared_at >= _at(where.window.start),
        _T.declared_at < _at(where.window.end),
    ]
    if where.service is not None:
        conditions.append(_T.service == where.service)
    if where.severity is not None:
        conditions.append(_T.severity == where.severity)
    return and_(*conditions)


def _at(moment: datetime) -> Any:
    return literal(moment, UTCDateTime)


def _seconds(start: Any, end: Any, postgres: bool) -> Any:
    if postgres:
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


async def _stats(connection: AsyncConnection, value: Any, where: ColumnElement[bool], postgres: bool) -> DurationStats:
    if postgres:
        statement = select(
            func.count(value),
            func.avg(value),
            func.percentile_cont(0.5).within_group(value),
            func.percentile_cont(0.9).within_group(value),
        ).where(where, value.is_not(None))
        count, mean, median, p90 = (await connection.execute(statement)).one()
        return DurationStats(int(count), _float(mean), _float(median), _float(p90))
    count, mean = (await connection.execute(select(func.count(value), func.avg(value)).where(where))).one()
    if not count:
        return DurationStats()
    median = await _sqlite_percentile(connection, value, where, int(count), 0.5)
    p90 = await _sqlite_percentile(connection, value, where, int(count), 0.9)
    return DurationStats(int(count), _float(mean), median, p90)


async def _sqlite_percentile(
    connection: AsyncConnection, value: Any, where: ColumnElement[bool], count: int, q: float
) -> float:
    low, high, weight = percentile_positions(count, q)
    statement = select(value).where(where, value.is_not(None)).order_by(value).offset(low).limit(high - low + 1)
    values = [float(v) for v in (await connection.execute(statement)).scalars()]
    return interpolate(values[0], values[-1], weight)


async def _severities(connection: AsyncConnection, base: ColumnElement[bool], now: Any) -> list[SeverityRow]:
    ack_or_now = func.coalesce(_T.acknowledged_at, now)
    resolved_or_now = func.coalesce(_T.resolved_at, now)
    statement = (
        select(
            _T.severity,
            func.count(),
            func.sum(case((_T.resolved_at.is_(None), 1), else_=0)),
            func.avg(case((_T.resolved_at.is_not(None), _T.ack_seconds))),
            func.avg(_T.resolve_seconds),
            *_compliance(_T.acknowledged_at, ack_or_now, _T.response_due_at),
            *_compliance(_T.resolved_at, resolved_or_now, _T.resolution_due_at),
        )
        .where(base)
        .group_by(_T.severity)
        .order_by(_T.severity)
    )
    rows = (await connection.execute(statement)).all()
    return [
        SeverityRow(
            int(s), int(n), int(o or 0), _float(a), _float(r), int(rm or 0), int(rj or 0), int(sm or 0), int(sj or 0)
        )
        for s, n, o, a, r, rm, rj, sm, sj in rows
    ]


def _compliance(stopped: Any, stopped_or_now: Any, due: Any) -> Sequence[Any]:
    """(met, judged): a clock is judged once it stopped or ran past its due time; met if it stopped in time."""
    met = func.sum(case((and_(stopped.is_not(None), stopped <= due), 1), else_=0))
    judged = func.sum(case((and_(due.is_not(None), (stopped.is_not(None)) | (stopped_or_now > due)), 1), else_=0))
    return met, judged


async def _services(connection: AsyncConnection, where: Filter, now: datetime, postgres: bool) -> list[ServiceRow]:
    """Per service: incidents declared in the window, their first and last start, and their impact inside it
    (an open incident's impact runs to now)."""
    start = func.coalesce(_T.impact_started_at, _T.declared_at)
    end = func.coalesce(_T.impact_ended_at, _T.resolved_at, _at(now))
    lower, upper = _at(where.window.start), _at(min(where.window.end, now))
    greatest, least = (func.greatest, func.least) if postgres else (func.max, func.min)
    overlap = _seconds(greatest(start, lower), least(end, upper), postgres)
    in_window = and_(_T.declared_at >= lower, _T.declared_at < _at(where.window.end))
    conditions = [_T.drill.is_(False), _T.service.is_not(None), start < upper, end > lower]
    if where.service is not None:
        conditions.append(_T.service == where.service)
    if where.severity is not None:
        conditions.append(_T.severity == where.severity)
    statement = (
        select(
            _T.service,
            func.sum(case((in_window, 1), else_=0)),
            func.min(case((in_window, _T.declared_at))),
            func.max(case((in_window, _T.declared_at))),
            func.sum(func.cast(case((overlap > 0, overlap), else_=0.0), Float)),
        )
        .where(*conditions)
        .group_by(_T.service)
        .order_by(_T.service)
    )
    rows = (await connection.execute(statement)).all()
    return [ServiceRow(str(s), int(n or 0), _when(f), _when(last), float(i or 0)) for s, n, f, last, i in rows]


def _when(value: Any) -> datetime | None:
    """min()/max() of a timestamp: a datetime on PostgreSQL, a string on SQLite."""
    if value is None or isinstance(value, datetime):
        return value
    return UTCDateTime().process_result_value(datetime.fromisoformat(str(value)), None)  # type: ignore[arg-type]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
