"""The /incident grammar, as a table of texts and what they parse to."""

import pytest

from domain import (
    Acknowledge,
    AddNote,
    AssignRole,
    ChangeSeverity,
    ChangeStatus,
    InvalidValue,
    PostUpdate,
    Reopen,
    Resolve,
    Severity,
    Status,
)
from handlers.command.grammar import (
    ActionsRequest,
    DeclareModalRequest,
    DeclareRequest,
    EventRequest,
    HelpRequest,
    ListRequest,
    PostmortemRequest,
    PostmortemsRequest,
    Request,
    RunbookRequest,
    StatsRequest,
    TimelineRequest,
    parse,
)

ME = "U0ME"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("declare Checkout is down", DeclareRequest("Checkout is down", Severity.SEV3)),
        ("declare Checkout is down sev1", DeclareRequest("Checkout is down", Severity.SEV1)),
        ("DECLARE db SEV-2", DeclareRequest("db", Severity.SEV2)),
        ("declare sev1", DeclareRequest("sev1", Severity.SEV3)),
        ("declare", DeclareModalRequest()),
        ("declare --drill Game day sev1", DeclareRequest("Game day", Severity.SEV1, None, True)),
        ("declare db down service:postgres sev2", DeclareRequest("db down", Severity.SEV2, "postgres")),
        ("stats", StatsRequest()),
        ("stats 7d service:checkout sev1", StatsRequest("7d", "checkout", Severity.SEV1)),
        ("stats 2026-11-01..2026-11-30", StatsRequest("2026-11-01..2026-11-30")),
        ("ack", EventRequest(None, Acknowledge(ME))),
        ("#42 ack", EventRequest(42, Acknowledge(ME))),
        ("status Monitoring", EventRequest(None, ChangeStatus(ME, Status.MONITORING))),
        ("sev 1", EventRequest(None, ChangeSeverity(ME, Severity.SEV1))),
        ("#3 sev sev4", EventRequest(3, ChangeSeverity(ME, Severity.SEV4))),
        ("lead <@U0BOB|bob>", EventRequest(None, AssignRole(ME, "commander", "U0BOB"))),
        ("role comms <@U0CAT>", EventRequest(None, AssignRole(ME, "comms", "U0CAT"))),
        ("note   saw   spikes", EventRequest(None, AddNote(ME, "saw   spikes"))),
        ("#7 update rolled back", EventRequest(7, PostUpdate(ME, "rolled back"))),
        ("resolve", EventRequest(None, Resolve(ME, ""))),
        ("resolve bad deploy, rolled back", EventRequest(None, Resolve(ME, "bad deploy, rolled back"))),
        ("reopen", EventRequest(None, Reopen(ME))),
        ("timeline", TimelineRequest(None)),
        ("#9 timeline", TimelineRequest(9)),
        ("#9", TimelineRequest(9)),
        ("list", ListRequest()),
        ("help", HelpRequest()),
        ("runbook", RunbookRequest(None)),
        ("runbook node-disk-space-low", RunbookRequest("node-disk-space-low")),
        ("", HelpRequest()),
        ("postmortem", PostmortemRequest(None)),
        ("#5 postmortem owner <@U0BOB>", PostmortemRequest(5, "U0BOB")),
        ("actions", ActionsRequest()),
        ("actions mine", ActionsRequest(owner=ME)),
        ("actions <@U0CAT>", ActionsRequest(owner="U0CAT")),
        ("actions overdue", ActionsRequest(overdue=True)),
        ("postmortems", PostmortemsRequest("all")),
        ("postmortems Overdue", PostmortemsRequest("overdue")),
        ("postmortems due", PostmortemsRequest("due")),
    ],
)
def test_parse(text: str, expected: Request) -> None:
    """Each accepted form parses to its request."""
    assert parse(text, ME) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate", "`frobnicate` is not an /incident subcommand"),
        ("#4 list", "does not take an incident number"),
        ("#4 declare x", "does not take an incident number"),
        ("sev 5", "is not a severity"),
        ("sev", "Wrong arguments for `sev`"),
        ("status fixed", "is not a status"),
        ("lead bob", "is not a Slack mention"),
        ("role <@U1>", "Wrong arguments for `role`"),
        ("note", "Write the note"),
        ("update   ", "Write the update"),
        ("ack now", "Wrong arguments for `ack`"),
        ("reopen please", "Wrong arguments for `reopen`"),
        ("runbook a b", "Wrong arguments for `runbook`"),
        ("#3 runbook", "does not take an incident number"),
        ("postmortem owner", "Wrong arguments for `postmortem`"),
        ("postmortem publish", "Wrong arguments for `postmortem`"),
        ("actions bob", "is not a Slack mention"),
        ("postmortems soon", "Wrong arguments for `postmortems`"),
        ("#3 actions", "does not take an incident number"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    """Bad commands are refused with a message naming the problem."""
    with pytest.raises(InvalidValue, match=message):
        parse(text, ME)
