"""The numbers: SQL aggregates judged against the seed's goals, one shape for the command, the API and tests."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain import Severity
from domain.metrics import GOALS, DurationStats, Goal, Window, availability, mtbf, share
from domain.severity import ResponseTargets
from storage.metrics import Aggregates, Filter, MetricsStore, ServiceRow, SeverityRow

JSON = dict[str, object]


@dataclass(frozen=True)
class Query:
    """What `/incident stats` and `/api/metrics/incidents` ask for."""

    window: Window
    service: str | None = None
    severity: Severity | None = None

    def filter(self) -> Filter:
        return Filter(self.window, self.service, None if self.severity is None else int(self.severity))


@dataclass(frozen=True)
class Figures:
    query: Query
    aggregates: Aggregates
    response: ResponseTargets
    resolution: ResponseTargets
    now: datetime

    @property
    def elapsed(self) -> Window:
        """The part of the window that has passed: availability is judged over it."""
        window = self.query.window
        return Window(window.start, min(window.end, self.now))

    def services(self) -> list[JSON]:
        return [_service_json(row, self.elapsed) for row in self.aggregates.services]

    def json(self) -> JSON:
        figures = self.aggregates
        window = self.query.window
        return {
            "window": {"from": _iso(window.start), "to": _iso(window.end)},
            "service": self.query.service,
            "severity": None if self.query.severity is None else int(self.query.severity),
            "mtta": _stats_json(figures.ack, GOALS["mtta"]),
            "mttr": _stats_json(figures.resolve, GOALS["mttr"]),
            "time_to_detect": _stats_json(figures.detect, None),
            "severities": [self._severity_json(row) for row in figures.severities],
            "services": self.services(),
            "incidents": sum(row.count for row in figures.severities),
            "open_incidents": sum(row.open for row in figures.severities),
            "open_incidents_now": figures.open_now,
            "action_items": {"open": figures.items_open, "overdue": figures.items_overdue},
        }

    def _severity_json(self, row: SeverityRow) -> JSON:
        severity = Severity(row.severity)
        return {
            "severity": row.severity,
            "severity_label": severity.label,
            "count": row.count,
            "open": row.open,
            "mtta_seconds": row.mtta,
            "mttr_seconds": row.mttr,
            "response_target": self.response.of(severity).label,
            "response_met": row.response_met,
            "response_judged": row.response_judged,
            "response_compliance_percent": share(row.response_met, row.response_judged),
            "resolution_target": self.resolution.of(severity).label,
            "resolution_met": row.resolution_met,
            "resolution_judged": row.resolution_judged,
            "resolution_compliance_percent": share(row.resolution_met, row.resolution_judged),
        }


async def compute(
    store: MetricsStore, query: Query, now: datetime, response: ResponseTargets, resolution: ResponseTargets
) -> Figures:
    return Figures(query, await store.aggregates(query.filter(), now), response, resolution, now)


def _stats_json(stats: DurationStats, goal: Goal | None) -> JSON:
    body: JSON = {
        "count": stats.count,
        "mean_seconds": stats.mean,
        "median_seconds": stats.median,
        "p90_seconds": stats.p90,
    }
    if goal is not None:
        body |= {"goal": _goal_json(goal), "met": goal.met(stats.mean)}
    return body


def _service_json(row: ServiceRow, window: Window) -> JSON:
    between = mtbf(row.first_start, row.last_start, row.count)
    mtbf_seconds = None if between is None else between.total_seconds()
    available = availability_of(row, window)
    return {
        "service": row.service,
        "count": row.count,
        "mtbf_seconds": mtbf_seconds,
        "mtbf_met": GOALS["mtbf"].met(mtbf_seconds),
        "impact_seconds": row.impact_seconds,
        "availability_percent": available,
        "availability_met": GOALS["availability"].met(available),
    }


def availability_of(row: ServiceRow, window: Window) -> float:
    return availability(timedelta(seconds=row.impact_seconds), window)


def _goal_json(goal: Goal) -> JSON:
    key = "below" if goal.comparison.value == "<" else "above"
    return {f"{key}_{'seconds' if goal.unit == 's' else 'percent'}": goal.limit}


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
