"""Every message builder stays within Slack's documented limits, however large the text it is given: checked
with the emulator's Block Kit rules (the ones the tests' Slack answers invalid_blocks with)."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import Change, Incident, ResponseTargets, Severity, Status, TimelineEntry
from domain.alerts import AlertRecord, AlertStatus, AlertSummary
from domain.timeline import EntryKind
from handlers.alerts import messages as alert_messages
from handlers.incidents import messages
from handlers.paging import messages as paging_messages
from sandbox import blockkit

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
HUGE = "&<>é" * 20_000  # every character that grows when escaped, and multi-byte text
_ROLES = {f"role-{'r' * 200}-{n}": f"U{n:08d}" for n in range(300)}
BIG = Incident(
    number=999_999_999,
    title=HUGE,
    severity=Severity.SEV1,
    status=Status.RESOLVED,
    declared_by="U0ALICE",
    declared_at=NOW,
    description=HUGE,
    commander="U0BOB",
    roles=_ROLES,
    resolved_at=NOW,
    summary=HUGE,
    channel_id="C0CHANNEL",
)
RECORDS = tuple(AlertRecord(f"f{n}", HUGE, HUGE, AlertStatus.FIRING, NOW) for n in range(200))
SUMMARY = AlertSummary(RECORDS, RECORDS[:3], truncated=10**12)


@pytest.mark.parametrize("status", [Status.DECLARED, Status.RESOLVED])
def test_the_card_fits_whatever_it_holds(status: Status) -> None:
    """A card with huge texts, 300 roles and 200 alerts is valid Block Kit, and its text fits a message."""
    incident = replace(BIG, status=status, resolved_at=NOW if status is Status.RESOLVED else None)
    blocks = messages.card(incident, messages.Clocks(), NOW, SUMMARY)
    assert blockkit.message_errors(blocks) == []
    assert len(messages.card_text(incident)) <= blockkit.MESSAGE_MAX_TEXT


def test_texts_fit_a_message() -> None:
    """Announcements, updates, timelines and lists built from huge texts fit Slack's 40,000 characters."""
    entries = [TimelineEntry(NOW, EntryKind.NOTE, "U0ALICE", HUGE)] * 50
    texts = [
        messages.announcement(BIG),
        messages.change_in_channel(BIG, Change.UPDATE, HUGE),
        messages.change_announcement(BIG, Change.RESOLVED, HUGE),
        messages.timeline_text(BIG, entries),
        messages.list_text([BIG] * 500, NOW),
        messages.topic(BIG)[:250],
    ]
    assert all(len(text) <= blockkit.MESSAGE_MAX_TEXT for text in texts)


def test_alert_and_page_messages_are_valid_block_kit() -> None:
    """The alert group message, the all-resolved notice and the page DM stay valid with huge inputs."""
    built: list[list[Any]] = [
        alert_messages.alert_group_message(HUGE, Severity.SEV3, SUMMARY, "g" * 5000),
        alert_messages.alert_group_declared(HUGE, 1, "C0X"),
        alert_messages.all_alerts_resolved(BIG),
        paging_messages.page_message(BIG, ResponseTargets(), HUGE),
    ]
    assert [blockkit.message_errors(blocks) for blocks in built] == [[]] * len(built)


def test_the_declare_modal_is_a_valid_view() -> None:
    """The declaration modal meets Slack's view rules (title 24, 100 blocks, input limits)."""
    assert blockkit.view_errors(messages.declare_modal(), surface="modal") == []
