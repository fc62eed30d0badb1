"""The `/incident` grammar: command text in, a typed request out. Pure; no Slack, no storage."""

import re
from dataclasses import dataclass
from datetime import timedelta

from domain import (
    COMMANDER,
    Acknowledge,
    AddNote,
    AssignRole,
    ChangeSeverity,
    ChangeStatus,
    Event,
    InvalidValue,
    PostUpdate,
    Reopen,
    Resolve,
    Severity,
    Status,
    parse_duration,
)
from domain.escalation import Target

_TARGET = re.compile(r"^#(\d+)$")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


class UsageError(InvalidValue):
    """The command text does not follow the grammar. The message shows the right form."""


@dataclass(frozen=True)
class DeclareRequest:
    title: str
    severity: Severity


@dataclass(frozen=True)
class DeclareModalRequest:
    """`/incident declare` with no title: open the declaration modal."""


@dataclass(frozen=True)
class EventRequest:
    target: int | None  # None: the incident of the channel the command was typed in
    event: Event


@dataclass(frozen=True)
class TimelineRequest:
    target: int | None


@dataclass(frozen=True)
class ListRequest:
    pass


@dataclass(frozen=True)
class HelpRequest:
    pass


@dataclass(frozen=True)
class PageRequest:
    target: int | None
    whom: Target


@dataclass(frozen=True)
class OnCallRequest:
    rotation: str | None  # None: every rotation


@dataclass(frozen=True)
class OverrideRequest:
    rotation: str
    user: str
    length: timedelta | None  # `<duration>` ...
    until: str | None  # ... or `until <time>`


@dataclass(frozen=True)
class RunbookRequest:
    name: str | None  # None: list the runbooks


Request = (
    DeclareRequest
    | DeclareModalRequest
    | EventRequest
    | TimelineRequest
    | ListRequest
    | HelpRequest
    | RunbookRequest
    | PageRequest
    | OnCallRequest
    | OverrideRequest
)

USAGE = {
    "declare": "declare <title> [sev1|sev2|sev3|sev4]",
    "ack": "ack",
    "status": "status <declared|acknowledged|investigating|identified|monitoring|resolved>",
    "sev": "sev <1-4>",
    "lead": "lead @user",
    "role": "role <name> @user",
    "note": "note <text>",
    "update": "update <text>",
    "resolve": "resolve [summary]",
    "reopen": "reopen",
    "page": "page <@user|rotation:<name>|service:<name>>",
    "oncall": "oncall [rotation] | oncall override <rotation> @user <duration|until <time>>",
    "timeline": "timeline",
    "list": "list",
    "runbook": "runbook [name]",
    "help": "help",
}
_TARGETLESS = {"declare", "list", "help", "runbook", "oncall"}


def parse(text: str, actor: str) -> Request:
    """Parse the text after `/incident`, typed by `actor`, or raise UsageError saying what is wrong."""
    words = text.split()
    target = None
    if words and (match := _TARGET.match(words[0])):
        target = int(match.group(1))
        words = words[1:]
    if not words:
        return HelpRequest() if target is None else TimelineRequest(target)
    verb, args = words[0].lower(), words[1:]
    if verb not in USAGE:
        raise UsageError(f"`{words[0]}` is not an /incident subcommand. Try `/incident help`.")
    if target is not None and verb in _TARGETLESS:
        raise UsageError(f"`{verb}` does not take an incident number: use `/incident {USAGE[verb]}`.")
    rest = text.split(None, 2 if target is not None else 1)[-1] if args else ""
    return _build(verb, args, rest, target, actor)


def _build(verb: str, args: list[str], rest: str, target: int | None, actor: str) -> Request:
    match verb:
        case "declare":
            return _declare(args)
        case "list":
            return ListRequest()
        case "help":
            return HelpRequest()
        case "runbook":
            if len(args) > 1:
                raise _wrong_arguments("runbook")
            return RunbookRequest(args[0] if args else None)
        case "timeline":
            return TimelineRequest(target)
        case "page":
            _expect_count(verb, args, 1)
            return PageRequest(target, Target.parse(args[0]))
        case "oncall":
            return _oncall(args)
        case _:
            return EventRequest(target, _event(verb, args, rest, actor))


def _event(verb: str, args: list[str], rest: str, actor: str) -> Event:
    simple: dict[str, Event] = {"ack": Acknowledge(actor), "reopen": Reopen(actor)}
    if verb in simple:
        _expect_count(verb, args, 0)
        return simple[verb]
    if verb == "resolve":
        return Resolve(actor, rest)
    if verb in {"note", "update"}:
        if not rest.strip():
            raise UsageError(f"Write the {verb} after the subcommand: `/incident {USAGE[verb]}`.")
        return AddNote(actor, rest) if verb == "note" else PostUpdate(actor, rest)
    return _valued_event(verb, args, actor)


def _valued_event(verb: str, args: list[str], actor: str) -> Event:
    if verb == "status":
        _expect_count(verb, args, 1)
        return ChangeStatus(actor, Status.parse(args[0]))
    if verb == "sev":
        _expect_count(verb, args, 1)
        return ChangeSeverity(actor, Severity.parse(args[0]))
    if verb == "lead":
        _expect_count(verb, args, 1)
        return AssignRole(actor, COMMANDER, _user(args[0], verb))
    _expect_count(verb, args, 2)
    return AssignRole(actor, args[0], _user(args[1], verb))


def _oncall(args: list[str]) -> Request:
    if not args or args[0].lower() != "override":
        if len(args) > 1:
            raise _wrong_arguments("oncall")
        return OnCallRequest(args[0] if args else None)
    rest = args[1:]
    if len(rest) == 4 and rest[2].lower() == "until":
        return OverrideRequest(rest[0], _user(rest[1], "oncall"), None, rest[3])
    if len(rest) == 3:
        return OverrideRequest(rest[0], _user(rest[1], "oncall"), parse_duration(rest[2]), None)
    raise _wrong_arguments("oncall", "oncall override")


def _declare(args: list[str]) -> Request:
    if not args:
        return DeclareModalRequest()
    severity = Severity.SEV3
    if len(args) > 1 and Severity.is_token(args[-1]):
        severity, args = Severity.parse(args[-1]), args[:-1]
    return DeclareRequest(" ".join(args), severity)


def _expect_count(verb: str, args: list[str], count: int) -> None:
    if len(args) != count:
        raise _wrong_arguments(verb)


def _wrong_arguments(verb: str, what: str | None = None) -> UsageError:
    return UsageError(f"Wrong arguments for `{what or verb}`: use `/incident {USAGE[verb]}`.")


def _user(token: str, verb: str) -> str:
    match = _MENTION.match(token)
    if match is None:
        raise UsageError(f"`{token}` is not a Slack mention: use `/incident {USAGE[verb]}` with a real @mention.")
    return match.group(1)
