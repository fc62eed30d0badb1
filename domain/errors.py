"""Typed errors raised by the incident model. Their messages are safe to show to users."""

from pydantic_core import ErrorDetails


class IncidentError(Exception):
    """Base class: something the user asked for is not possible. The message says why."""


class InvalidTransition(IncidentError):
    """The state machine refuses this event in the incident's current state."""


class IncidentNotFound(IncidentError):
    """No incident has that number (or that channel)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"There is no incident {what}.")


class NotAnIncidentChannel(IncidentError):
    """A command that needs an incident was typed outside any incident channel, without a number."""


class InvalidValue(IncidentError):
    """A severity, status, duration or similar value could not be understood."""


def where_and_what(error: ErrorDetails) -> tuple[str, str]:
    """Where one of pydantic's validation errors is (`alerts.0.fingerprint`, "" for the whole input) and what it
    says, without pydantic's `Value error, ` prefix: the message our validators wrote."""
    return ".".join(str(part) for part in error["loc"]), error["msg"].removeprefix("Value error, ")
