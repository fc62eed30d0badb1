"""SQL aggregates against hand-worked incidents: open, reopened and drill incidents excluded correctly."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.metrics import Window
from domain.severity import Severity
from domain.status import Status
from storage.incident_rows import IncidentRow
from storage.incidents import IncidentStore
from storage.metrics import Filter, MetricsStore
from storage.postmortems import ActionItemRow, PostmortemRow

T = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)
WINDOW = Window(T - 24 * H, T + 72 * H)
NOW = T + 72 * H


@pytest.fixture
async def seeded(incident_store: IncidentStore, engine: AsyncEngine, make_incident) -> MetricsStore:
    """A: ack 10 min, resolved 2 h. B: ack 20 min, resolved 4 h. C: open. D: a drill. E: reopened, open again."""
    rows = [
        make_incident(severity=Severity.SEV1, service="checkout", declared_at=T, acknowledged_at=T + 10 * M,
                      resolved_at=T + 2 * H, status=Status.RESOLVED),
        make_incident(severity=Severity.SEV1, service="checkout", declared_at=T + 10 * H,
                      acknowledged_at=T + 10 * H + 20 * M, resolved_at=T + 14 * H, status=Status.RESOLVED),
        make_incident(severity=Severity.SEV2, service="checkout", declared_at=T + 40 * H,
                      acknowledged_at=T + 40 * H + 5 * M, status=Status.INVESTIGATING),
        make_incident(severity=Severity.SEV1, service="checkout", declared_at=T + H, acknowledged_at=T + H + M,
                      resolved_at=T + 2 * H, status=Status.RESOLVED, drill=True),
        make_incident(severity=Severity.SEV2, service="api", declared_at=T + H, acknowledged_at=T + H + 30 * M,
                      status=Status.INVESTIGATING),
    ]  # fmt: skip
    for incident in rows:
        await incident_store.add(incident)
    async with engine.begin() as connection:
        await connection.execute(
            update(IncidentRow)
            .where(IncidentRow.number == 1)  # type: ignore[arg-type]
            .values(impact_started_at=T - 5 * M, response_due_at=T + 15 * M, resolution_due_at=T + 4 * H)
        )
        await connection.execute(
            update(IncidentRow)
            .where(IncidentRow.number == 2)  # type: ignore[arg-type]
            .values(response_due_at=T + 10 * H + 15 * M, resolution_due_at=T + 14 * H)
        )
    return MetricsStore(engine)


async def test_durations_exclude_open_reopened_and_drills(seeded: MetricsStore) -> None:
    """MTTA and MTTR average A and B only: means 15 min and 3 h, p90 by interpolation."""
    figures = await seeded.aggregates(Filter(WINDOW), NOW)
    assert (figures.ack.count, figures.ack.mean, figures.ack.median) == (2, 900.0, 900.0)
    assert figures.ack.p90 == pytest.approx(1140.0)
    assert (figures.resolve.mean, figures.resolve.median) == (10800.0, 10800.0)
    assert figures.resolve.p90 == pytest.approx(13680.0)
    assert figures.detect.count == 1
    assert figures.detect.mean == pytest.approx(300.0)
    assert figures.open_now == 2


async def test_counts_and_compliance_per_severity(seeded: MetricsStore) -> None:
    """SEV-1: 2 incidents (the drill is not one), response met 1 of 2, resolution met 2 of 2; SEV-2: 2 open."""
    figures = await seeded.aggregates(Filter(WINDOW), NOW)
    sev1, sev2 = figures.severities
    assert (sev1.severity, sev1.count, sev1.open) == (1, 2, 0)
    assert (sev1.response_met, sev1.response_judged) == (1, 2)
    assert (sev1.resolution_met, sev1.resolution_judged) == (2, 2)
    assert (sev2.count, sev2.open, sev2.mtta) == (2, 2, None)


async def test_mtbf_and_impact_per_service(seeded: MetricsStore) -> None:
    """checkout: 3 starts over 40 h, impact 2 h 5 min + 4 h + 32 h (C open until now); api: one start."""
    figures = await seeded.aggregates(Filter(WINDOW), NOW)
    api, checkout = figures.services
    assert (checkout.service, checkout.count) == ("checkout", 3)
    assert checkout.first_start == T
    assert checkout.last_start == T + 40 * H
    assert checkout.impact_seconds == pytest.approx((2 * H + 5 * M + 4 * H + 32 * H).total_seconds())
    assert (api.count, api.first_start) == (1, T + H)


async def test_filters_and_report(seeded: MetricsStore) -> None:
    """A service and severity filter narrows every figure; the report lists non-drill incidents in order."""
    figures = await seeded.aggregates(Filter(WINDOW, service="api", severity=2), NOW)
    assert [row.count for row in figures.severities] == [1]
    assert figures.ack.count == 0
    report = await seeded.report(WINDOW)
    assert [row.number for row in report] == [1, 2, 3, 5]
    assert report[0].response_due_at == T + 15 * M
    assert await seeded.open_by_severity() == {2: 2}


async def test_impact_and_action_items_come_from_the_postmortem(seeded: MetricsStore, engine: AsyncEngine) -> None:
    """A postmortem's impact window reaches B's row once (time to detect 10 min); its open and overdue items count."""
    async with engine.begin() as connection:
        await connection.execute(
            insert(PostmortemRow).values(
                number=2, state="published", owner=None, required=True, due=None, started_at=T, whys=[],
                reviewers=[], approvals=[], impact_started=T + 10 * H - 10 * M, impact_ended=T + 13 * H,
                timeline_edits={}, channel_id=None, message_ts=None, revisions=1, announced=0, version=1,
            )
        )  # fmt: skip
        for due, status in ((T.date(), "open"), ((T + 30 * 24 * H).date(), "open"), (T.date(), "done")):
            await connection.execute(
                insert(ActionItemRow).values(
                    number=2,
                    text="fix",
                    kind="fix",
                    owner=None,
                    priority="high",
                    due=due,
                    ticket_url=None,
                    status=status,
                )
            )
    assert await seeded.copy_impact() == 1
    assert await seeded.copy_impact() == 0  # already copied
    figures = await seeded.aggregates(Filter(WINDOW), T + 24 * H)
    assert figures.detect.count == 2
    assert figures.detect.mean == pytest.approx((300.0 + 600.0) / 2)
    assert (figures.items_open, figures.items_overdue) == (2, 1)
    row = next(r for r in await seeded.report(WINDOW) if r.number == 2)
    assert (row.postmortem, row.items_open, row.items_closed) == ("published", 2, 1)
