"""The slash command's grammar, and the router that hands each request to the capability that answers it."""

from handlers.command.grammar import (
    USAGE,
    DeclareModalRequest,
    DeclareRequest,
    EventRequest,
    HelpRequest,
    ListRequest,
    OnCallRequest,
    OverrideRequest,
    PageRequest,
    Request,
    RunbookRequest,
    StatsRequest,
    TimelineRequest,
    UsageError,
    parse,
)
from handlers.command.router import CommandRouter, Decision

__all__ = [
    "USAGE",
    "CommandRouter",
    "Decision",
    "DeclareModalRequest",
    "DeclareRequest",
    "EventRequest",
    "HelpRequest",
    "ListRequest",
    "OnCallRequest",
    "OverrideRequest",
    "PageRequest",
    "Request",
    "RunbookRequest",
    "StatsRequest",
    "TimelineRequest",
    "UsageError",
    "parse",
]
