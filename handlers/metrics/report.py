"""The compliance report for auditors: every incident of a period (drills left out), as JSON, Markdown or CSV."""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from domain import Severity
from domain.metrics import Window
from domain.severity import ResponseTargets
from storage.metrics import MetricsStore, ReportRow

JSON = dict[str, object]
COLUMNS = (
    "number", "title", "severity", "service", "status", "declared_at", "acknowledged_at", "resolved_at",
    "response_target", "response", "resolution_target", "resolution", "postmortem", "action_items",
)  # fmt: skip


@dataclass(frozen=True)
class Report:
    window: Window
    rows: list[JSON]

    def json(self) -> JSON:
        return {"from": _iso(self.window.start), "to": _iso(self.window.end), "incidents": self.rows}

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({key: "" if row[key] is None else row[key] for key in COLUMNS})
        return out.getvalue()

    def markdown(self) -> str:
        lines = [
            f"# Incident compliance report {self.window.label}",
            "",
            f"{len(self.rows)} incidents (drills left out). Times are UTC.",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for row in self.rows:
            cells = ["" if row[key] is None else str(row[key]).replace("|", "\\|") for key in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


async def build(
    store: MetricsStore, window: Window, now: datetime, response: ResponseTargets, resolution: ResponseTargets
) -> Report:
    rows = await store.report(window)
    return Report(window, [_row(row, now, response, resolution) for row in rows])


def _row(row: ReportRow, now: datetime, response: ResponseTargets, resolution: ResponseTargets) -> JSON:
    severity = Severity(row.severity)
    return {
        "number": row.number,
        "title": row.title,
        "severity": severity.label,
        "service": row.service,
        "status": row.status,
        "declared_at": _iso(row.declared_at),
        "acknowledged_at": _iso(row.acknowledged_at),
        "resolved_at": _iso(row.resolved_at),
        "response_target": response.of(severity).label,
        "response": verdict(row.acknowledged_at, row.response_due_at, now),
        "resolution_target": resolution.of(severity).label,
        "resolution": verdict(row.resolved_at, row.resolution_due_at, now),
        "postmortem": row.postmortem or "none",
        "action_items": f"{row.items_open} open, {row.items_closed} closed",
    }


def verdict(stopped: datetime | None, due: datetime | None, now: datetime) -> str:
    """`met`, `breached`, `running` (not yet due) or `unknown` (declared before targets were recorded)."""
    if due is None:
        return "unknown"
    if stopped is not None:
        return "met" if stopped <= due else "breached"
    return "breached" if now > due else "running"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")
