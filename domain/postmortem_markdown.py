"""A postmortem as a whole document: its durations and its Markdown, in the template's order. Pure."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.durations import format_duration
from domain.incident import Incident
from domain.postmortem import ActionItem, Postmortem, SectionKey, timeline_lines
from domain.severity import ResponseTarget
from domain.timeline import TimelineEntry


@dataclass(frozen=True)
class Durations:
    to_acknowledge: timedelta | None
    to_resolve: timedelta | None
    target: ResponseTarget
    target_met: bool | None
    impact_started: datetime
    impact_ended: datetime | None

    @property
    def impact(self) -> timedelta | None:
        return None if self.impact_ended is None else self.impact_ended - self.impact_started


def durations(incident: Incident, postmortem: Postmortem, target: ResponseTarget) -> Durations:
    declared = incident.declared_at
    acked = incident.acknowledged_at
    return Durations(
        to_acknowledge=None if acked is None else acked - declared,
        to_resolve=None if incident.resolved_at is None else incident.resolved_at - declared,
        target=target,
        target_met=None if acked is None else acked <= target.due(declared),
        impact_started=postmortem.impact.started or declared,
        impact_ended=postmortem.impact.ended or incident.resolved_at,
    )


@dataclass(frozen=True)
class Document:
    """Everything a published revision keeps: the incident, the postmortem, its items and the full timeline."""

    incident: Incident
    postmortem: Postmortem
    items: tuple[ActionItem, ...]
    timeline: tuple[TimelineEntry, ...]
    target: ResponseTarget

    @property
    def durations(self) -> Durations:
        return durations(self.incident, self.postmortem, self.target)


def render(document: Document) -> str:
    """The postmortem as Markdown: title, facts, then each section of the template in order."""
    pm, incident = document.postmortem, document.incident
    parts = [
        f"# Postmortem: #{incident.number} {incident.title}",
        _facts(document),
        _section(pm, SectionKey.SUMMARY),
        _timeline(document),
        _root_cause(pm),
        _section(pm, SectionKey.WENT_WELL),
        _section(pm, SectionKey.WENT_WRONG),
        _section(pm, SectionKey.LUCKY),
        _items(document.items),
        _section(pm, SectionKey.LESSONS),
    ]
    return "\n\n".join(parts) + "\n"


def _facts(document: Document) -> str:
    pm, incident, d = document.postmortem, document.incident, document.durations
    met = {None: "not acknowledged", True: "met", False: "missed"}[d.target_met]
    lines = [
        f"- Severity: {incident.severity.label}",
        f"- State: {pm.state.label}" + (f" (revision {pm.revisions})" if pm.revisions else ""),
        f"- Owner: {_who(pm.owner)}",
        f"- Reviewers: {', '.join(_who(r) for r in pm.reviewers) or 'none'}"
        + (f"; approved by {', '.join(_who(a) for a in pm.approvals)}" if pm.approvals else ""),
        f"- Declared: {_at(incident.declared_at)}; resolved: {_at(incident.resolved_at)}",
        f"- Time to acknowledge: {_span(d.to_acknowledge)} (target {d.target.label}: {met})",
        f"- Time to resolve: {_span(d.to_resolve)}",
        f"- Impact: {_at(d.impact_started)} to {_at(d.impact_ended)} ({_span(d.impact)})",
    ]
    return "\n".join(lines)


def _section(pm: Postmortem, key: SectionKey) -> str:
    return f"## {key.heading}\n\n{pm.section(key).text or '_Not written._'}"


def _timeline(document: Document) -> str:
    lines = ["## Timeline", ""]
    for line in timeline_lines(document.timeline, document.postmortem.timeline):
        if line.excluded:
            continue
        e = line.entry
        text = f"{_at(e.at)} {e.kind.value}{_by(e.actor)}: {e.text}"
        lines.append(f"- **{text}**" if line.key else f"- {text}")
    notes = document.postmortem.section(SectionKey.TIMELINE).text
    if notes:
        lines += ["", notes]
    return "\n".join(lines)


def _root_cause(pm: Postmortem) -> str:
    text = _section(pm, SectionKey.ROOT_CAUSE)
    if len(pm.whys) < 2:
        return text
    whys = [f"{i}. Why? {pm.whys[i - 1]} → {answer}" for i, answer in enumerate(pm.whys[1:], start=1)]
    return text + "\n\n### 5 whys\n\n" + f"Problem: {pm.whys[0]}\n\n" + "\n".join(whys)


def _items(items: Sequence[ActionItem]) -> str:
    if not items:
        return "## Action items\n\n_None._"
    rows = [
        "| # | Action | Kind | Owner | Priority | Due | Status | Ticket |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for item in items:
        cells = [
            str(item.id),
            item.text.replace("|", "\\|").replace("\n", " "),
            item.kind.label,
            _who(item.owner),
            item.priority.label,
            item.due.isoformat(),
            item.status.label,
            item.ticket_url or "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "## Action items\n\n" + "\n".join(rows)


def _who(user: str | None) -> str:
    return f"@{user}" if user else "nobody"


def _by(user: str | None) -> str:
    return f" ({_who(user)})" if user else ""


def _at(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(delta: timedelta | None) -> str:
    return "—" if delta is None else format_duration(delta)
