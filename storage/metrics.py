"""The SQL aggregates the metrics are computed from: one query per figure family, never a loop over incidents.

Drills are never selected. Duration averages take closed incidents only (`resolved_at` set, so a reopened
incident counts only once it is resolved again). Percentiles read the two values around the rank with
ORDER BY ... LIMIT 2 OFFSET k along a covering index and interpolate as `percentile_cont` does (SQLite has no
percentile function; on PostgreSQL the walk is faster than `percentile_cont`, which sorts every row). Every
SQLite aggregate names its covering index (INDEXED BY): a range over an index that holds every column the
query reads, so no row of the table is read and nothing is sorted.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Float, and_, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from domain.metrics import DurationStats, Window, interpolate, percentile_positions
from domain.postmortem import ItemStatus
from storage.columns import UTCDateTime
from storage.db import autocommit
from storage.incident_rows import IncidentRow
from storage.postmortems import ActionItemRow, PostmortemRow

_T = IncidentRow.__table__.c  # type: ignore[attr-defined]
_PM = PostmortemRow.__table__.c  # type: ignore[attr-defined]
_ITEMS = ActionItemRow.__table__.c  # type: ignore[attr-defined]
T = TypeVar("T")


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
    closed: int = 0  # closed incidents: the MTTA and MTTR sample
    detected: int = 0  # closed incidents with a recorded impact start
    detect_seconds: float = 0.0  # their summed time to detect


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
    items_open: int = 0  # action items of the window's incidents still open
    items_overdue: int = 0  # ... of which past their due date


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
    postmortem: str | None = None  # its state, if it has one
    items_open: int = 0
    items_closed: int = 0  # done, or decided not to do


class MetricsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine, self._alone = engine, autocommit(engine)  # _alone: a write of one statement

    async def aggregates(self, where: Filter, now: datetime) -> Aggregates:
        """Every figure of a window. The severity pass, the service pass and the open count run at once, each on
        its own connection (SQLite readers run in parallel); the percentiles follow, needing the counts."""
        postgres = self._engine.dialect.name == "postgresql"
        base = _selected(where)
        open_now = select(func.count()).where(_T.drill.is_(False), _T.resolved_at.is_(None))
        severities, services, still_open, items = await asyncio.gather(
            self._run(lambda c: _severities(c, base, _at(now), postgres)),
            self._run(lambda c: _services(c, where, now, postgres)),
            self._run(lambda c: c.scalar(open_now)),
            self._run(lambda c: _action_items(c, base, now)),
        )
        closed = and_(base, col(IncidentRow.resolved_at).is_not(None))
        ack_sample = _sample(severities, [row.mtta for row in severities])
        resolve_sample = _sample(severities, [row.mttr for row in severities])
        ack, resolve = await asyncio.gather(
            self._run(lambda c: _stats(c, _T.ack_seconds, closed, ack_sample, "ix_incidents_ack_seconds")),
            self._run(lambda c: _stats(c, _T.resolve_seconds, closed, resolve_sample, "ix_incidents_resolve_seconds")),
        )
        detected = sum(row.detected for row in severities)
        detect_mean = sum(row.detect_seconds for row in severities) / detected if detected else None
        stats = DurationStats(detected, detect_mean)
        return Aggregates(ack, resolve, stats, severities, services, int(still_open or 0), *items)

    async def _run(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self._engine.connect() as connection:
            return await query(connection)

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
        columns = [getattr(_T, name) for name in list(ReportRow.__dataclass_fields__)[:10]]
        items = ActionItemRow.__table__  # type: ignore[attr-defined]
        postmortem = select(_PM.state).where(_PM.number == _T.number).scalar_subquery()
        still_open = _ITEMS.status == ItemStatus.OPEN.value
        open_items = select(func.count()).select_from(items).where(_ITEMS.number == _T.number, still_open)
        closed_items = select(func.count()).select_from(items).where(_ITEMS.number == _T.number, ~still_open)
        statement = (
            select(*columns, postmortem, open_items.scalar_subquery(), closed_items.scalar_subquery())
            .where(_selected(Filter(window)))
            .order_by(_T.number)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [ReportRow(*row) for row in rows]

    async def unarmed(self) -> list[int]:
        """Open incidents whose target due times were never recorded."""
        statement = select(_T.number).where(_T.resolved_at.is_(None), _T.response_due_at.is_(None))
        async with self._engine.connect() as connection:
            return [int(n) for n in (await connection.execute(statement)).scalars()]

    async def copy_impact(self) -> int:
        """Copy the impact window each postmortem recorded onto its incident, where they differ (the metrics
        read it from the incident row); how many incidents changed."""
        incident = IncidentRow.__table__.alias("incident")  # type: ignore[attr-defined]
        differs = or_(
            _PM.impact_started.is_distinct_from(incident.c.impact_started_at),
            _PM.impact_ended.is_distinct_from(incident.c.impact_ended_at),
        )
        changed = select(_PM.number).join(incident, incident.c.number == _PM.number).where(differs)
        statement = (
            update(IncidentRow)
            .where(_T.number.in_(changed))
            .values(
                impact_started_at=select(_PM.impact_started).where(_PM.number == _T.number).scalar_subquery(),
                impact_ended_at=select(_PM.impact_ended).where(_PM.number == _T.number).scalar_subquery(),
            )
        )
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
        return int(result.rowcount or 0)

    async def set_due(self, number: int, response: datetime | None, resolution: datetime | None) -> None:
        """Record the target due times the clocks run to (re-evaluated when the severity changes)."""
        statement = (
            update(IncidentRow)
            .where(col(IncidentRow.number) == number)
            .values(response_due_at=response, resolution_due_at=resolution)
        )
        async with self._alone.begin() as connection:  # one statement
            await connection.execute(statement)


def _sample(rows: Sequence[SeverityRow], means: Sequence[float | None]) -> tuple[int, float | None]:
    """The closed incidents over all severities and their mean, from each severity's count and mean."""
    count = sum(row.closed for row in rows)
    total = sum(row.closed * mean for row, mean in zip(rows, means, strict=True) if mean is not None)
    return count, (total / count if count else None)


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


async def _stats(
    connection: AsyncConnection,
    value: Any,
    where: ColumnElement[bool],
    sample: tuple[int, float | None],
    index: str,
) -> DurationStats:
    """Median and p90 of `value` over the rows of `where`, beside their (count, mean) from the severity pass.

    Both databases walk an index in `value` order to the ranks around each quantile and interpolate between
    them as `percentile_cont` does; on PostgreSQL that beats `percentile_cont`, which sorts every row."""
    count, mean = sample
    if not count:
        return DurationStats()
    median = await _percentile(connection, value, where, count, 0.5, index)
    p90 = await _percentile(connection, value, where, count, 0.9, index)
    return DurationStats(count, mean, median, p90)


async def _percentile(
    connection: AsyncConnection, value: Any, where: ColumnElement[bool], count: int, q: float, index: str
) -> float:
    """Skip to the rank along an index in `value` order (covering, so no table reads and no sort)."""
    low, high, weight = percentile_positions(count, q)
    statement = select(value).where(where, value.is_not(None)).order_by(value).offset(low).limit(high - low + 1)
    statement = statement.with_hint(IncidentRow, f"INDEXED BY {index}", "sqlite")
    values = [float(v) for v in (await connection.execute(statement)).scalars()]
    return interpolate(values[0], values[-1], weight)


async def _severities(
    connection: AsyncConnection, base: ColumnElement[bool], now: Any, postgres: bool
) -> list[SeverityRow]:
    """One pass over the covering index, in severity order: counts, means, compliance, time to detect."""
    ack_or_now = func.coalesce(_T.acknowledged_at, now)
    resolved_or_now = func.coalesce(_T.resolved_at, now)
    closed = _T.resolved_at.is_not(None)
    detected = and_(closed, _T.impact_started_at.is_not(None))
    statement = (
        select(
            _T.severity,
            func.count(),
            func.sum(case((_T.resolved_at.is_(None), 1), else_=0)),
            func.avg(case((closed, _T.ack_seconds))),
            func.avg(_T.resolve_seconds),
            *_compliance(_T.acknowledged_at, ack_or_now, _T.response_due_at),
            *_compliance(_T.resolved_at, resolved_or_now, _T.resolution_due_at),
            func.sum(case((closed, 1), else_=0)),
            func.sum(case((detected, 1), else_=0)),
            func.sum(case((detected, _seconds(_T.impact_started_at, _T.declared_at, postgres)), else_=0.0)),
        )
        .where(base)
        .group_by(_T.severity)
        .order_by(_T.severity)
        .with_hint(IncidentRow, "INDEXED BY ix_incidents_metrics", "sqlite")
    )
    rows = (await connection.execute(statement)).all()
    return [_severity_row(row) for row in rows]


def _severity_row(row: Sequence[Any]) -> SeverityRow:
    severity, count, still_open, mtta, mttr, *counts, detect_seconds = row
    met, judged, resolved_met, resolved_judged, closed, detected = (int(v or 0) for v in counts)
    return SeverityRow(
        int(severity), int(count), int(still_open or 0), _float(mtta), _float(mttr),
        met, judged, resolved_met, resolved_judged, closed, detected, float(detect_seconds or 0),
    )  # fmt: skip


async def _action_items(connection: AsyncConnection, base: ColumnElement[bool], now: datetime) -> tuple[int, int]:
    """(open, overdue) action items of the incidents selected."""
    still_open = _ITEMS.status == ItemStatus.OPEN.value
    statement = (
        select(func.count(), func.sum(case((_ITEMS.due < now.date(), 1), else_=0)))
        .select_from(ActionItemRow.__table__.join(IncidentRow.__table__, _ITEMS.number == _T.number))  # type: ignore[attr-defined]
        .where(base, still_open)
    )
    total, overdue = (await connection.execute(statement)).one()
    return int(total or 0), int(overdue or 0)


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
    inside = and_(
        _T.impact_started_at.is_(None), _T.impact_ended_at.is_(None), _T.declared_at >= lower, _T.resolved_at <= upper
    )
    overlap = case((inside, _T.resolve_seconds), else_=_seconds(greatest(start, lower), least(end, upper), postgres))
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
        .with_hint(IncidentRow, "INDEXED BY ix_incidents_services", "sqlite")
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
