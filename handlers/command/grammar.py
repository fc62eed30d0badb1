"""The slash command grammar: command text in, a typed request out. Pure; no Slack, no storage."""

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
from handlers.slack.blocks import TITLE_LIMIT, clip
from handlers.slack.payloads import has_control_characters

_TARGET = re.compile(r"^#(\S*)$")
_NUMBER = re.compile(r"[0-9]{1,9}")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


class UsageError(InvalidValue):
    """The command text does not follow the grammar. The message shows the right form."""


@dataclass(frozen=True)
class DeclareRequest:
    title: str
    severity: Severity
    service: str | None = None
    drill: bool = False


@dataclass(frozen=True)
class DeclareModalRequest:
    """`declare` with no title: open the declaration modal."""


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
class StatsRequest:
    window: str = "30d"  # `7d`, `30d`, `90d` or `<from>..<to>`, read against the clock by its handler
    service: str | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class OverridesRequest:
    rotation: str | None  # None: every rotation


@dataclass(frozen=True)
class CancelOverrideRequest:
    override_id: int


@dataclass(frozen=True)
class RunbookRequest:
    name: str | None  # None: list the runbooks


@dataclass(frozen=True)
class PostmortemRequest:
    """`postmortem`: start (or find) the incident's postmortem; `postmortem owner @user` changes its owner."""

    target: int | None
    owner: str | None = None


@dataclass(frozen=True)
class ActionsRequest:
    """`actions [@user|mine|overdue]`: open action items across incidents."""

    owner: str | None = None
    overdue: bool = False


@dataclass(frozen=True)
class PostmortemsRequest:
    """`postmortems [due|overdue]`: postmortems and their state."""

    which: str = "all"


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
    | StatsRequest
    | OverridesRequest
    | CancelOverrideRequest
    | PostmortemRequest
    | ActionsRequest
    | PostmortemsRequest
)

USAGE = {
    "declare": "declare <title> [sev1|sev2|sev3|sev4] [service:<name>] [--drill]",
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
    "oncall": "oncall [rotation] | oncall override <rotation> @user <duration|until <time>> | oncall overrides "
    "[rotation] | oncall override cancel <id>",
    "timeline": "timeline",
    "list": "list",
    "runbook": "runbook [name]",
    "stats": "stats [7d|30d|90d|<from>..<to>] [service:<name>] [sev<n>]",
    "postmortem": "postmortem [owner @user]",
    "actions": "actions [@user|mine|overdue]",
    "postmortems": "postmortems [due|overdue]",
    "help": "help",
}
_TARGETLESS = {"declare", "list", "help", "runbook", "oncall", "actions", "postmortems", "stats"}
_WINDOWS = {"7d", "30d", "90d"}


def parse(text: str, actor: str, command: str = "/incident") -> Request:
    """Parse the text after `command` (the configured slash command), typed by `actor`, or raise UsageError
    saying what is wrong."""
    if has_control_characters(text):
        raise UsageError("The command contains control characters; type it again as plain text.")
    words = text.split()
    target = None
    if words and (match := _TARGET.match(words[0])):
        if not _NUMBER.fullmatch(match.group(1)):
            raise UsageError(f"`{words[0][:20]}` is not an incident number: use `{command} #42 <subcommand>`.")
        target = int(match.group(1))
        words = words[1:]
    if not words:
        return HelpRequest() if target is None else TimelineRequest(target)
    verb, args = words[0].lower(), words[1:]
    if verb not in USAGE:
        raise UsageError(f"`{words[0]}` is not an {command} subcommand. Try `{command} help`.")
    if target is not None and verb in _TARGETLESS:
        raise UsageError(f"`{verb}` does not take an incident number: use `{command} {USAGE[verb]}`.")
    rest = text.split(None, 2 if target is not None else 1)[-1] if args else ""
    return _build(_Words(verb, args, rest, target, actor, command))


@dataclass(frozen=True)
class _Words:
    """One command being parsed: its verb and arguments, and the configured command name for messages."""

    verb: str
    args: list[str]
    rest: str  # the text after the verb, as typed
    target: int | None
    actor: str
    command: str

    def expect(self, count: int) -> None:
        if len(self.args) != count:
            raise self.wrong()

    def wrong(self, what: str | None = None) -> UsageError:
        return UsageError(f"Wrong arguments for `{what or self.verb}`: use `{self.command} {USAGE[self.verb]}`.")

    def user(self, token: str) -> str:
        match = _MENTION.match(token)
        if match is None:
            raise UsageError(
                f"`{token}` is not a Slack mention: use `{self.command} {USAGE[self.verb]}` with a real @mention."
            )
        return match.group(1)


def _build(words: _Words) -> Request:
    match words.verb:
        case "declare":
            return _declare(words.args)
        case "list":
            words.expect(0)
            return ListRequest()
        case "help":
            words.expect(0)
            return HelpRequest()
        case "runbook":
            if len(words.args) > 1:
                raise words.wrong()
            return RunbookRequest(words.args[0] if words.args else None)
        case "timeline":
            words.expect(0)
            return TimelineRequest(words.target)
        case "page":
            words.expect(1)
            return PageRequest(words.target, Target.parse(words.args[0]))
        case "oncall":
            return _oncall(words)
        case "stats":
            return _stats(words)
        case "postmortem" | "actions" | "postmortems":
            return _postmortem(words)
        case _:
            return EventRequest(words.target, _event(words))


def _event(words: _Words) -> Event:
    verb, actor = words.verb, words.actor
    simple: dict[str, Event] = {"ack": Acknowledge(actor), "reopen": Reopen(actor)}
    if verb in simple:
        words.expect(0)
        return simple[verb]
    if verb == "resolve":
        return Resolve(actor, words.rest)
    if verb in {"note", "update"}:
        if not words.rest.strip():
            raise UsageError(f"Write the {verb} after the subcommand: `{words.command} {USAGE[verb]}`.")
        return AddNote(actor, words.rest) if verb == "note" else PostUpdate(actor, words.rest)
    return _valued_event(words)


def _valued_event(words: _Words) -> Event:
    verb, args, actor = words.verb, words.args, words.actor
    if verb == "status":
        words.expect(1)
        return ChangeStatus(actor, Status.parse(args[0]))
    if verb == "sev":
        words.expect(1)
        return ChangeSeverity(actor, Severity.parse(args[0]))
    if verb == "lead":
        words.expect(1)
        return AssignRole(actor, COMMANDER, words.user(args[0]))
    words.expect(2)
    return AssignRole(actor, args[0], words.user(args[1]))


def _oncall(words: _Words) -> Request:
    args = words.args
    first = args[0].lower() if args else ""
    if first == "overrides":
        if len(args) > 2:
            raise words.wrong("oncall overrides")
        return OverridesRequest(args[1] if len(args) == 2 else None)
    if first != "override":
        if len(args) > 1:
            raise words.wrong()
        return OnCallRequest(args[0] if args else None)
    rest = args[1:]
    if rest and rest[0].lower() == "cancel":
        if len(rest) != 2 or not _NUMBER.fullmatch(rest[1].removeprefix("#")):
            raise words.wrong("oncall override cancel")
        return CancelOverrideRequest(int(rest[1].removeprefix("#")))
    if len(rest) == 4 and rest[2].lower() == "until":
        return OverrideRequest(rest[0], words.user(rest[1]), None, rest[3])
    if len(rest) == 3:
        return OverrideRequest(rest[0], words.user(rest[1]), parse_duration(rest[2]), None)
    raise words.wrong("oncall override")


def _stats(words: _Words) -> Request:
    window, service, severity = "30d", None, None
    for token in words.args:
        lowered = token.lower()
        if lowered in _WINDOWS or ".." in lowered:
            window = lowered
        elif lowered.startswith("service:") and len(token) > len("service:"):
            service = token.split(":", 1)[1]
        elif Severity.is_token(lowered):
            severity = Severity.parse(lowered)
        else:
            raise words.wrong()
    return StatsRequest(window, service, severity)


def _postmortem(words: _Words) -> Request:
    args = words.args
    if words.verb == "postmortem":
        if not args:
            return PostmortemRequest(words.target)
        if len(args) == 2 and args[0].lower() == "owner":
            return PostmortemRequest(words.target, words.user(args[1]))
        raise words.wrong()
    if len(args) > 1:
        raise words.wrong()
    choice = args[0] if args else ""
    if words.verb == "postmortems":
        if choice.lower() not in {"", "due", "overdue"}:
            raise words.wrong()
        return PostmortemsRequest(choice.lower() or "all")
    if choice.lower() in {"", "overdue"}:
        return ActionsRequest(overdue=choice.lower() == "overdue")
    return ActionsRequest(owner=words.actor if choice.lower() == "mine" else words.user(choice))


def _declare(args: list[str]) -> Request:
    drill = any(arg.lower() == "--drill" for arg in args)
    args = [arg for arg in args if arg.lower() != "--drill"]
    if not args:
        return DeclareModalRequest()
    severity, service = Severity.SEV3, None
    while len(args) > 1 and (Severity.is_token(args[-1]) or args[-1].lower().startswith("service:")):
        if Severity.is_token(args[-1]):
            severity = Severity.parse(args[-1])
        else:
            service = args[-1].split(":", 1)[1] or None
        args = args[:-1]
    return DeclareRequest(clip(" ".join(args), TITLE_LIMIT), severity, service, drill)
