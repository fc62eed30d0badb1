"""The slash command's grammar, and the router that hands each request to the capability that answers it."""

from handlers.command.grammar import (
    USAGE,
    CancelOverrideRequest,
    DeclareModalRequest,
    DeclareRequest,
    EventRequest,
    HelpRequest,
    ListRequest,
    OnCallRequest,
    OverrideRequest,
    OverridesRequest,
    PageRequest,
    Request,
    RunbookRequest,
    TimelineRequest,
    UsageError,
    parse,
)
from handlers.command.router import CommandRouter, Decision

__all__ = [
    "USAGE",
    "CancelOverrideRequest",
    "CommandRouter",
    "Decision",
    "DeclareModalRequest",
    "DeclareRequest",
    "EventRequest",
    "HelpRequest",
    "ListRequest",
    "OnCallRequest",
    "OverrideRequest",
    "OverridesRequest",
    "PageRequest",
    "Request",
    "RunbookRequest",
    "TimelineRequest",
    "UsageError",
    "parse",
]
