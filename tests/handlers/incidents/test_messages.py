"""The incident's message builders: what the card and the texts show."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain import Incident, Severity, Status
from handlers.incidents import messages
from handlers.incidents.messages import CardAction
from handlers.slack import ActionId
from handlers.slack.blocks import Block

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def make(**overrides: object) -> Incident:
    incident = Incident(
        number=42,
        title="Checkout is down",
        severity=Severity.SEV1,
        status=Status.DECLARED,
        declared_by="U1",
        declared_at=T0,
    )
    return replace(incident, **overrides)  # type: ignore[arg-type]


def _action_ids(card: list[Block]) -> list[str]:
    actions = next(b for b in card if b["type"] == "actions")
    return [str(e["action_id"]) for e in actions["elements"]]  # type: ignore[attr-defined]


def test_card_shows_target_status_commander_and_elapsed() -> None:
    """The card shows severity with its response target, status, commander and elapsed time."""
    card = messages.card(make(commander="U9"), messages.Clocks(), T0 + timedelta(minutes=7))
    text = json.dumps(card, ensure_ascii=False)
    assert "#42 Checkout is down" in text
    assert "SEV-1: respond within 15 min" in text
    assert "declared" in text
    assert "<@U9>" in text
    assert "7 min" in text


def test_declared_card_offers_every_action() -> None:
    """A new incident's card has Acknowledge, status, severity and Resolve controls."""
    card = messages.card(make(), messages.Clocks(), T0)
    assert _action_ids(card) == [
        ActionId.ACKNOWLEDGE,
        ActionId.CHANGE_STATUS,
        ActionId.CHANGE_SEVERITY,
        ActionId.RESOLVE,
    ]


def test_acknowledged_card_drops_acknowledge() -> None:
    """Once acknowledged, the Acknowledge button goes away."""
    card = messages.card(make(status=Status.ACKNOWLEDGED, acknowledged_at=T0), messages.Clocks(), T0)
    assert ActionId.ACKNOWLEDGE not in _action_ids(card)


def test_resolved_card_offers_postmortem_and_reopen_only() -> None:
    """A resolved card shows its summary and offers only Start postmortem and Reopen."""
    incident = make(status=Status.RESOLVED, acknowledged_at=T0, resolved_at=T0 + timedelta(hours=2), summary="rb")
    card = messages.card(incident, messages.Clocks(), T0 + timedelta(days=1))
    assert _action_ids(card) == [ActionId.POSTMORTEM_START, ActionId.REOPEN]
    assert "Duration*\\n2 h" in json.dumps(card)
    assert "*Summary:* rb" in json.dumps(card)


def test_closed_card_offers_only_the_postmortem() -> None:
    """A closed card (postmortem published) cannot be reopened; it links to the postmortem only."""
    incident = make(status=Status.CLOSED, acknowledged_at=T0, resolved_at=T0 + timedelta(hours=2))
    card = messages.card(incident, messages.Clocks(), T0 + timedelta(days=1))
    assert _action_ids(card) == [ActionId.POSTMORTEM_START]


def test_select_values_round_trip() -> None:
    """A select option's value carries the incident number and the choice."""
    card = messages.card(make(), messages.Clocks(), T0)
    actions = next(b for b in card if b["type"] == "actions")
    select = actions["elements"][1]  # type: ignore[index]
    state, choice = CardAction.parse_option(select["options"][0]["value"])
    assert (state.number, choice) == (42, "acknowledged")


def test_long_title_fits_header_limit() -> None:
    """Header text stays within Slack's 150 characters."""
    card = messages.card(make(title="x" * 400), messages.Clocks(), T0)
    assert len(card[0]["text"]["text"]) <= 150  # type: ignore[index]


def test_timeline_and_list_text() -> None:
    """Timeline and list replies name the incident and its entries."""
    assert "No open incidents" in messages.list_text([], T0)
    listed = messages.list_text([make(channel_id="C1")], T0 + timedelta(hours=1))
    assert "SEV-1 #42 Checkout is down: declared, 1 h in <#C1>" in listed
    assert "more" not in listed
    counted = messages.list_text([make(channel_id="C1")], T0, open_count=3)
    assert counted.startswith("*Open incidents: 3*")
    assert counted.endswith("_…and 2 more, less severe or older_")
    assert messages.timeline_text(make(), []).startswith("*Timeline of #42 Checkout is down*")
