"""The postmortem's builders: person-supplied text is escaped, long text is cut on messages only, modals split."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from domain import EntryKind, Incident, ResponseTargets, Severity, Status, TimelineEntry
from domain.postmortem import (
    ActionItem,
    ActionKind,
    Postmortem,
    Priority,
    Section,
    SectionKey,
    State,
    TimelineLine,
)
from domain.postmortem_markdown import Document
from handlers.postmortems import messages, modals
from handlers.postmortems.values import PostmortemRef, ReminderBody, ReminderKind
from sandbox.blockkit import message_errors, view_errors

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_person_text_is_escaped_before_mrkdwn() -> None:
    """&, < and > from people cannot become mentions, links or broadcasts."""
    assert messages.changes_requested("U0BOB", "ping <!channel> & <https://x|y>") == (
        "<@U0BOB> requested changes:\nping &lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    )


def test_cut_marks_where_the_full_text_is() -> None:
    """A section too long for a message ends with the pointer to the draft and stays within the limit."""
    cut = messages._cut("x" * 5000, 2900)
    assert len(cut) == 2900
    assert cut.endswith(messages.CUT)


def test_section_modal_splits_long_text_into_inputs_within_limits() -> None:
    """A 7,000-character section opens in three inputs of at most 3,000 characters, a valid modal."""
    view = modals.section_modal(3, Section(SectionKey.LESSONS, "y" * 7000, 4, "U0BOB", T0))
    blocks: list[dict[str, Any]] = view["blocks"]  # type: ignore[assignment]
    inputs = [b for b in blocks if b["type"] == "input"]
    assert [len(b["element"]["initial_value"]) for b in inputs] == [3000, 3000, 1000]
    assert view_errors(view, surface="modal") == []
    assert PostmortemRef.load(str(view["private_metadata"])) == PostmortemRef(
        number=3, section=SectionKey.LESSONS, version=4
    )


def test_round_trip_values_parse_back() -> None:
    """Button values, metadata and timer bodies come back as the models they were serialised from."""
    ref = PostmortemRef(number=9, section=SectionKey.ROOT_CAUSE, version=2, item=5, channel="C1", message_ts="1.2")
    assert PostmortemRef.load(ref.dump()) == ref
    body = ReminderBody(kind=ReminderKind.ITEM_DUE, number=9, item=5)
    assert ReminderBody.load(body.dump()) == body
    assert body.timer_id() == "item_due:9:5"


def test_review_request_links_the_draft_or_names_its_channel() -> None:
    """A reviewer's DM links the draft; without a link it names the channel where the draft is pinned."""
    # titles are stored mrkdwn-safe (escaped on arrival), so they are shown as stored, not escaped twice
    incident = Incident(4, "DB &lt;down&gt;", Severity.SEV1, Status.RESOLVED, "U0A", T0, channel_id="C0INC")
    linked = messages.review_request(incident, "U0A", "https://fake.slack.com/archives/C0INC/p1")
    assert "<https://fake.slack.com/archives/C0INC/p1|open the draft>" in linked
    assert "DB &lt;down&gt;" in linked
    assert "&amp;lt;" not in linked
    assert "pinned in <#C0INC>" in messages.review_request(incident, "U0A", "")


def test_published_post_follows_the_template_order() -> None:
    """The final post shows each written section in the template's order, the 5 whys, then items before lessons."""
    sections = {
        key: Section(key, f"{key.value} text", 1, "U0A", T0)
        for key in (SectionKey.SUMMARY, SectionKey.ROOT_CAUSE, SectionKey.LUCKY, SectionKey.LESSONS)
    }
    incident = Incident(4, "DB down", Severity.SEV1, Status.CLOSED, "U0A", T0, channel_id="C0INC")
    pm = Postmortem(4, State.PUBLISHED, "U0A", True, None, T0, sections, whys=("slow", "disk full"), revisions=1)
    item = ActionItem(1, 4, "Alert on disk", ActionKind.DETECT, "U0A", Priority.P1, T0.date())
    blocks = messages.published(incident, pm, [item])
    headings = [b["text"]["text"].split("*")[1] for b in blocks[1:]]  # type: ignore[index]
    assert headings == [
        "Summary",
        "Root cause analysis",
        "5 whys",
        "Where we got lucky",
        "Action items",
        "Lessons learned",
    ]
    assert message_errors(blocks) == []


HUGE = "&<>é" * 20_000  # grows when escaped, and multi-byte


def _huge_postmortem() -> tuple[Incident, Postmortem, list[ActionItem]]:
    incident = Incident(999_999_999, HUGE, Severity.SEV1, Status.RESOLVED, "U0A", T0, channel_id="C0", resolved_at=T0)
    sections = {key: Section(key, HUGE, 9, "U0A", T0) for key in SectionKey}
    whys = tuple(HUGE for _ in range(6))
    pm = Postmortem(incident.number, State.IN_REVIEW, "U0A", True, T0.date(), T0, sections, whys, ("U0B",) * 10)
    items = [
        ActionItem(n, incident.number, HUGE[:3000], ActionKind.PREVENT, "U0B", Priority.P1, T0.date(), HUGE)
        for n in range(100)
    ]
    return incident, replace(pm, revisions=3), items


def test_every_postmortem_message_fits_whatever_it_holds() -> None:
    """The draft, the published post, the lists and the texts stay within Slack's limits with huge content."""
    incident, pm, items = _huge_postmortem()
    durations = Document(incident, pm, tuple(items), (), ResponseTargets().sev1).durations
    key = [TimelineLine(TimelineEntry(T0, EntryKind.NOTE, "U0A", HUGE), key=True)] * 10
    for blocks in (
        messages.draft(pm, incident, items, durations, key),
        messages.published(incident, pm, items),
        messages.actions_list(items, "Open action items"),
    ):
        assert message_errors(blocks) == []
    texts = [
        messages.draft_text(pm, incident),
        messages.published_summary(incident, pm),
        messages.review_request(incident, "U0A", "https://fake.slack.com/archives/C0/p1"),
        messages.digest(items, [pm] * 100),
        messages.postmortems_list([pm] * 100, "Postmortems", T0.date()),
    ]
    assert all(len(text) <= 40_000 for text in texts)
    stored = replace(incident, title="a &lt;b&gt;")  # titles are stored mrkdwn-safe: shown as stored, not twice
    assert f"#{incident.number} a &lt;b&gt;:" in messages.draft_text(pm, stored)
