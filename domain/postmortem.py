"""The blameless postmortem: its sections, action items, states and the checks before publishing. Pure.

A postmortem belongs to one incident (same number). Each section is saved on its own with a version, so two
people editing two sections never collide and an edit based on an older version of one section is refused
(`EditConflict`, naming who saved it). Markdown rendering lives in `domain.postmortem_markdown`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from domain.errors import IncidentError, InvalidTransition, InvalidValue
from domain.incident import Incident
from domain.severity import ResponseTarget, Severity
from domain.timeline import TimelineEntry

SECTION_MAX = 30_000  # ten modal inputs of Slack's 3,000 characters
WHYS_MAX = 5


class SectionKey(StrEnum):
    SUMMARY = "summary"
    TIMELINE = "timeline"
    ROOT_CAUSE = "root_cause"
    WENT_WELL = "went_well"
    WENT_WRONG = "went_wrong"
    LUCKY = "lucky"
    LESSONS = "lessons"

    @property
    def heading(self) -> str:
        return _TITLES[self]

    @property
    def guide(self) -> str:
        """What the template asks for in this section."""
        return _GUIDES[self]


_TITLES = {
    SectionKey.SUMMARY: "Summary",
    SectionKey.TIMELINE: "Timeline notes",
    SectionKey.ROOT_CAUSE: "Root cause analysis",
    SectionKey.WENT_WELL: "What went well",
    SectionKey.WENT_WRONG: "What went wrong",
    SectionKey.LUCKY: "Where we got lucky",
    SectionKey.LESSONS: "Lessons learned",
}
_GUIDES = {
    SectionKey.SUMMARY: "What happened, when, how long, who and what was affected (impact), customer-facing or not.",
    SectionKey.TIMELINE: "Anything the incident's timeline does not show by itself.",
    SectionKey.ROOT_CAUSE: "Trigger, contributing factors, underlying cause. Blameless: systems, not people.",
    SectionKey.WENT_WELL: "What helped: detection, tools, people's responses.",
    SectionKey.WENT_WRONG: "What made it worse or slower.",
    SectionKey.LUCKY: "What could have made it much worse, and did not.",
    SectionKey.LESSONS: "What the team now knows.",
}


class State(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class ActionKind(StrEnum):
    PREVENT = "prevent"
    DETECT = "detect"
    DOCUMENT = "document"
    TRAIN = "train"
    MITIGATE = "mitigate"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    ActionKind.PREVENT: "Prevent recurrence",
    ActionKind.DETECT: "Improve detection",
    ActionKind.DOCUMENT: "Improve documentation",
    ActionKind.TRAIN: "Improve training",
    ActionKind.MITIGATE: "Mitigate",
}


class Priority(StrEnum):
    P1 = "p1"
    P2 = "p2"
    P3 = "p3"

    @property
    def label(self) -> str:
        return self.value.upper()


class ItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    WONT_DO = "wont_do"

    @property
    def label(self) -> str:
        return "won't do" if self is ItemStatus.WONT_DO else self.value


class EditConflict(IncidentError):
    """Someone saved the section after the editor opened it; `section` is what is stored now."""

    def __init__(self, section: "Section") -> None:
        who = f"<@{section.edited_by}>" if section.edited_by else "someone"
        super().__init__(f"{who} saved *{section.key.heading}* after you opened it; reload to see their text.")
        self.section = section


@dataclass(frozen=True)
class Section:
    key: SectionKey
    text: str = ""
    version: int = 0  # 0: never saved
    edited_by: str | None = None
    edited_at: datetime | None = None


@dataclass(frozen=True)
class ActionItem:
    id: int
    number: int
    text: str
    kind: ActionKind
    owner: str | None
    priority: Priority
    due: date
    ticket_url: str | None = None
    status: ItemStatus = ItemStatus.OPEN

    def overdue(self, today: date) -> bool:
        return self.status is ItemStatus.OPEN and self.due < today


@dataclass(frozen=True)
class ImpactWindow:
    started: datetime | None = None  # None: when the incident was declared
    ended: datetime | None = None  # None: when it was resolved


@dataclass(frozen=True)
class TimelineEdits:
    """The owner's view of the incident's timeline: key entries, excluded ones, entries added at past times."""

    key: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    added: tuple[TimelineEntry, ...] = ()


@dataclass(frozen=True)
class TimelineLine:
    entry: TimelineEntry
    key: bool = False
    excluded: bool = False
    added: bool = False


def entry_id(entry: TimelineEntry) -> str:
    """A timeline entry's stable id: its time to the microsecond and its kind."""
    return f"{entry.at.astimezone(UTC):%Y%m%dT%H%M%S%f}:{entry.kind.value}"


def timeline_lines(entries: Sequence[TimelineEntry], edits: TimelineEdits) -> list[TimelineLine]:
    """Every entry, the added ones among them, in time order, each marked key, excluded or added."""
    lines = [TimelineLine(e, entry_id(e) in edits.key, entry_id(e) in edits.excluded) for e in entries]
    lines += [TimelineLine(e, entry_id(e) in edits.key, added=True) for e in edits.added]
    return sorted(lines, key=lambda line: line.entry.at)


@dataclass(frozen=True)
class Postmortem:
    number: int
    state: State
    owner: str | None
    required: bool
    due: date | None
    started_at: datetime
    sections: Mapping[SectionKey, Section] = field(default_factory=dict)
    whys: tuple[str, ...] = ()  # the problem, then up to five answers to "why?"
    reviewers: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    impact: ImpactWindow = ImpactWindow()
    timeline: TimelineEdits = TimelineEdits()
    channel_id: str | None = None
    message_ts: str | None = None
    revisions: int = 0  # how many times it was published
    announced: int = 0  # the last revision whose posts (channel, INCIDENTS_CHANNEL) all went out
    version: int = 0  # storage's optimistic lock on the postmortem's own fields

    def section(self, key: SectionKey) -> Section:
        return self.sections.get(key) or Section(key)


@dataclass(frozen=True)
class Policy:
    """Which severities need a postmortem, when it is due, and action-item due dates by priority."""

    required: frozenset[Severity] = frozenset({Severity.SEV1, Severity.SEV2})
    due_business_days: int = 5
    item_due_days: Mapping[Priority, int] = field(
        default_factory=lambda: {Priority.P1: 7, Priority.P2: 30, Priority.P3: 90}
    )

    def item_due(self, priority: Priority, today: date) -> date:
        return today + timedelta(days=self.item_due_days[priority])


def start(incident: Incident, policy: Policy, now: datetime) -> Postmortem:
    """A new draft for a resolved incident; the commander owns it, required (with a due date) by severity."""
    if incident.status.is_open:
        raise InvalidTransition(
            f"Incident #{incident.number} is not resolved yet: resolve it, then start its postmortem."
        )
    required = incident.severity in policy.required
    due = None
    if required:
        resolved = incident.resolved_at or now
        due = ResponseTarget(business_days=policy.due_business_days).due(resolved).date()
    return Postmortem(
        number=incident.number,
        state=State.DRAFT,
        owner=incident.commander or incident.declared_by,
        required=required,
        due=due,
        started_at=now,
    )


def check_text(key: SectionKey, text: str) -> str:
    if len(text) > SECTION_MAX:
        raise InvalidValue(f"{key.heading} is {len(text):,} characters; at most {SECTION_MAX:,} fit.")
    return text.strip()


def next_why(whys: Sequence[str]) -> str | None:
    """The next question of the 5 whys: each answer is the next question's subject. None when complete."""
    if not whys:
        return "What went wrong? (the problem the whys start from)"
    if len(whys) > WHYS_MAX:
        return None
    return f"Why? {whys[-1]}"


def edit_timeline(
    postmortem: Postmortem,
    actor: str,
    key: Sequence[str],
    excluded: Sequence[str],
    impact: ImpactWindow,
    added: TimelineEntry | None = None,
) -> Postmortem:
    """The owner marks key and excluded entries, sets the impact window, and may add an entry at a past time."""
    if postmortem.owner is not None and actor != postmortem.owner:
        raise InvalidTransition(f"Only the owner, <@{postmortem.owner}>, edits the postmortem's timeline.")
    if impact.started and impact.ended and impact.ended <= impact.started:
        raise InvalidValue("Impact must end after it starts.")
    if set(key) & set(excluded):
        raise InvalidValue("An entry cannot be both key and excluded.")
    entries = postmortem.timeline.added + ((added,) if added is not None else ())
    edits = TimelineEdits(frozenset(key), frozenset(excluded), entries)
    return replace(postmortem, timeline=edits, impact=impact)


def ask_review(postmortem: Postmortem, reviewers: Sequence[str]) -> Postmortem:
    if postmortem.state is State.PUBLISHED:
        raise InvalidTransition(f"The postmortem of #{postmortem.number} is published already.")
    if not reviewers:
        raise InvalidValue("Choose at least one reviewer.")
    merged = tuple(dict.fromkeys([*postmortem.reviewers, *reviewers]))
    return replace(postmortem, state=State.IN_REVIEW, reviewers=merged)


def approve(postmortem: Postmortem, reviewer: str) -> Postmortem:
    _check_reviewer(postmortem, reviewer)
    return replace(postmortem, approvals=tuple(dict.fromkeys([*postmortem.approvals, reviewer])))


def request_changes(postmortem: Postmortem, reviewer: str) -> Postmortem:
    """Back to draft; the reviewer's earlier approval no longer counts."""
    _check_reviewer(postmortem, reviewer)
    approvals = tuple(a for a in postmortem.approvals if a != reviewer)
    return replace(postmortem, state=State.DRAFT, approvals=approvals)


def _check_reviewer(postmortem: Postmortem, reviewer: str) -> None:
    if postmortem.state is not State.IN_REVIEW:
        raise InvalidTransition(f"The postmortem of #{postmortem.number} is not in review.")
    if reviewer not in postmortem.reviewers:
        raise InvalidTransition(f"Only the reviewers asked can review the postmortem of #{postmortem.number}.")


def missing_for_publish(postmortem: Postmortem, items: Sequence[ActionItem]) -> list[str]:
    """What must be filled in before publishing; empty when it may be published."""
    missing = []
    if not postmortem.section(SectionKey.SUMMARY).text:
        missing.append("the summary is empty")
    if not postmortem.section(SectionKey.ROOT_CAUSE).text and len(postmortem.whys) < 2:
        missing.append("the root cause analysis is empty")
    if not items:
        missing.append("there is no action item")
    if postmortem.reviewers and not postmortem.approvals:
        missing.append("no reviewer has approved it yet")
    return missing


def publish(postmortem: Postmortem, items: Sequence[ActionItem]) -> Postmortem:
    """The next published revision (the first publish, or an amendment), or InvalidValue naming what is missing."""
    missing = missing_for_publish(postmortem, items)
    if missing:
        raise InvalidValue("Not yet: " + "; ".join(missing) + ".")
    return replace(postmortem, state=State.PUBLISHED, revisions=postmortem.revisions + 1)


def is_overdue(postmortem: Postmortem, today: date) -> bool:
    return postmortem.state is not State.PUBLISHED and postmortem.due is not None and postmortem.due < today
