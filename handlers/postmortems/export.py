"""A postmortem as JSON: the one shape the API, the CLI export and each published revision's snapshot share."""

from collections.abc import Sequence
from datetime import timedelta

from domain.postmortem import ActionItem, SectionKey, timeline_lines
from domain.postmortem_markdown import Document
from handlers.incidents.api import entry_json, iso
from storage.postmortems import Revision

JSON = dict[str, object]


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def item_json(item: ActionItem) -> JSON:
    return {
        "id": item.id,
        "incident": item.number,
        "text": item.text,
        "kind": item.kind.value,
        "owner": item.owner,
        "priority": item.priority.value,
        "due": item.due.isoformat(),
        "ticket_url": item.ticket_url,
        "status": item.status.value,
    }


def document_json(doc: Document) -> JSON:
    pm, incident, d = doc.postmortem, doc.incident, doc.durations
    sections = {
        key.value: {
            "title": key.heading,
            "text": pm.section(key).text,
            "version": pm.section(key).version,
            "edited_by": pm.section(key).edited_by,
            "edited_at": iso(pm.section(key).edited_at),
        }
        for key in SectionKey
    }
    return {
        "number": incident.number,
        "title": incident.title,
        "severity_label": incident.severity.label,
        "incident_status": incident.status.value,
        "state": pm.state.value,
        "revision": pm.revisions,
        "owner": pm.owner,
        "required": pm.required,
        "due": pm.due.isoformat() if pm.due else None,
        "reviewers": list(pm.reviewers),
        "approvals": list(pm.approvals),
        "sections": sections,
        "five_whys": list(pm.whys),
        "action_items": [item_json(item) for item in doc.items],
        "timeline": [
            entry_json(line.entry) | {"key": line.key, "excluded": line.excluded, "added": line.added}
            for line in timeline_lines(doc.timeline, pm.timeline)
        ],
        "durations": {
            "time_to_acknowledge_seconds": _seconds(d.to_acknowledge),
            "time_to_resolve_seconds": _seconds(d.to_resolve),
            "response_target": d.target.label,
            "target_met": d.target_met,
            "impact_seconds": _seconds(d.impact),
        },
        "impact": {"started": iso(d.impact_started), "ended": iso(d.impact_ended)},
    }


def revisions_json(revisions: Sequence[Revision]) -> list[JSON]:
    return [
        {"revision": r.revision, "published_at": iso(r.published_at), "published_by": r.published_by} for r in revisions
    ]
