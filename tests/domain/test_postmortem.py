"""The postmortem model: starting, the 5 whys, review states, what publishing needs, and its Markdown."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain import Incident, InvalidTransition, InvalidValue, Severity, Status
from domain.postmortem import (
    ActionItem,
    ActionKind,
    ImpactWindow,
    ItemStatus,
    Policy,
    Postmortem,
    Priority,
    Section,
    SectionKey,
    State,
    approve,
    ask_review,
    edit_timeline,
    entry_id,
    missing_for_publish,
    next_why,
    publish,
    request_changes,
    start,
)
from domain.postmortem_markdown import Document, render
from domain.severity import ResponseTarget
from domain.timeline import EntryKind, TimelineEntry

GOLDEN = Path(__file__).parent / "golden" / "postmortem.md"
T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # a Wednesday
RESOLVED = Incident(
    number=7,
    title="Checkout is down",
    severity=Severity.SEV2,
    status=Status.RESOLVED,
    declared_by="U0ALICE",
    declared_at=T0,
    commander="U0BOB",
    acknowledged_at=T0 + timedelta(minutes=4),
    resolved_at=T0 + timedelta(minutes=52),
)
ITEM = ActionItem(7, 7, "Validate config | before push", ActionKind.PREVENT, "U0BOB", Priority.P1, date(2026, 12, 2))


def _draft(**overrides: object) -> Postmortem:
    return replace(start(RESOLVED, Policy(), T0 + timedelta(hours=1)), **overrides)  # type: ignore[arg-type]


def _sections(**texts: str) -> dict[SectionKey, Section]:
    return {SectionKey(key): Section(SectionKey(key), text, 1, "U0CAROL", T0) for key, text in texts.items()}


@pytest.mark.parametrize(
    ("severity", "required", "due"),
    [
        (Severity.SEV1, True, date(2026, 12, 2)),  # 5 business days after Wednesday 25 Nov
        (Severity.SEV2, True, date(2026, 12, 2)),
        (Severity.SEV3, False, None),
        (Severity.SEV4, False, None),
    ],
)
def test_start_requires_by_severity(severity: Severity, required: bool, due: date | None) -> None:
    """SEV-1 and SEV-2 need a postmortem, due five business days after resolution; the commander owns it."""
    pm = start(replace(RESOLVED, severity=severity), Policy(), T0)
    assert (pm.required, pm.due, pm.owner, pm.state) == (required, due, "U0BOB", State.DRAFT)


def test_start_refuses_an_open_incident() -> None:
    """A postmortem starts only once the incident is resolved."""
    with pytest.raises(InvalidTransition, match="not resolved yet"):
        start(replace(RESOLVED, status=Status.MONITORING), Policy(), T0)


def test_five_whys_chain_each_answer_into_the_next_question() -> None:
    """Each answer is the next question's subject; after the problem and five answers there is no next."""
    chain: tuple[str, ...] = ()
    questions = []
    for answer in ["checkout failed", "config was bad", "no validation", "no schema", "no owner", "no process"]:
        question = next_why(chain)
        assert question is not None
        questions.append(question)
        chain = (*chain, answer)
    assert questions[1] == "Why? checkout failed"
    assert questions[5] == "Why? no owner"
    assert next_why(chain) is None


@pytest.mark.parametrize(
    ("step", "state", "expected"),
    [
        (lambda pm: ask_review(pm, ["U0DAN"]), State.DRAFT, State.IN_REVIEW),
        (lambda pm: approve(pm, "U0DAN"), State.IN_REVIEW, State.IN_REVIEW),
        (lambda pm: request_changes(pm, "U0DAN"), State.IN_REVIEW, State.DRAFT),
        (lambda pm: approve(pm, "U0DAN"), State.DRAFT, InvalidTransition),
        (lambda pm: approve(pm, "U0EVE"), State.IN_REVIEW, InvalidTransition),
        (lambda pm: ask_review(pm, ["U0DAN"]), State.PUBLISHED, InvalidTransition),
    ],
)
def test_review_states(step: object, state: State, expected: object) -> None:
    """Review moves draft → in review; only an asked reviewer approves or sends it back to draft."""
    pm = _draft(state=state, reviewers=("U0DAN",))
    if expected is InvalidTransition:
        with pytest.raises(InvalidTransition):
            step(pm)  # type: ignore[operator]
    else:
        assert step(pm).state is expected  # type: ignore[operator]


def test_publish_names_everything_missing() -> None:
    """Publishing needs a summary, a root cause, an action item and, once reviewers were asked, an approval."""
    pm = _draft(reviewers=("U0DAN",))
    assert missing_for_publish(pm, []) == [
        "the summary is empty",
        "the root cause analysis is empty",
        "there is no action item",
        "no reviewer has approved it yet",
    ]
    ready = replace(pm, sections=_sections(summary="s", root_cause="r"), approvals=("U0DAN",))
    assert publish(ready, [ITEM]).revisions == 1
    assert publish(publish(ready, [ITEM]), [ITEM]).revisions == 2  # an amendment is the next revision
    with pytest.raises(InvalidValue, match=r"Not yet: there is no action item\."):
        publish(ready, [])


@pytest.mark.parametrize(
    ("actor", "key", "excluded", "impact", "error"),
    [
        ("U0ALICE", [], [], ImpactWindow(), InvalidTransition),  # not the owner
        ("U0BOB", ["a"], ["a"], ImpactWindow(), InvalidValue),  # key and excluded at once
        ("U0BOB", [], [], ImpactWindow(T0, T0 - timedelta(minutes=1)), InvalidValue),  # ends before it starts
    ],
)
def test_timeline_edits_are_refused(
    actor: str, key: list[str], excluded: list[str], impact: ImpactWindow, error: type[Exception]
) -> None:
    """Only the owner edits the timeline; an entry is key or excluded, not both; impact ends after it starts."""
    with pytest.raises(error):
        edit_timeline(_draft(), actor, key, excluded, impact)


def test_markdown_matches_the_golden_file() -> None:
    """The Markdown follows the template's order with durations, the edited timeline (a key entry in bold, an
    entry added before the declaration), the 5 whys and the action-item table."""
    pm = _draft(
        sections=_sections(
            summary="Checkout failed for 52 minutes; customers could not pay.",
            timeline="Impact began 7 minutes before the declaration.",
            root_cause="A config push disabled the payment provider.",
            went_well="Rollback took 2 minutes.",
            went_wrong="Nobody owned config validation.",
            lucky="It was 03:00 UTC.",
            lessons="Config is code.",
        ),
        whys=("checkout failed", "payments were off", "config disabled them"),
        reviewers=("U0DAN",),
        approvals=("U0DAN",),
        impact=ImpactWindow(started=T0 - timedelta(minutes=7)),
        state=State.PUBLISHED,
        revisions=1,
    )
    timeline = (
        TimelineEntry(T0, EntryKind.DECLARED, "U0ALICE", "Declared SEV-2: Checkout is down"),
        TimelineEntry(T0 + timedelta(minutes=4), EntryKind.ACKNOWLEDGED, "U0BOB", "Acknowledged"),
        TimelineEntry(T0 + timedelta(minutes=52), EntryKind.RESOLVED, "U0BOB", "Resolved"),
    )
    added = TimelineEntry(T0 - timedelta(minutes=7), EntryKind.NOTE, "U0BOB", "Error rate rose")
    pm = edit_timeline(pm, "U0BOB", [entry_id(timeline[1])], [], pm.impact, added)
    done = replace(ITEM, id=8, text="Page on config errors", kind=ActionKind.DETECT, status=ItemStatus.DONE)
    document = Document(RESOLVED, pm, (ITEM, done), timeline, ResponseTarget(duration=timedelta(hours=1)))
    assert render(document) == GOLDEN.read_text()
