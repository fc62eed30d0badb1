"""Incidents: declare and act on them, the card and its buttons, the declare modal, timeline capture and the
JSON API. The other capabilities build on its flows."""

from slack_bolt.async_app import AsyncApp

from handlers.command import CommandRouter
from handlers.incidents import api, capture, commands, flows, listeners, messages
from handlers.services import Services


def register(app: AsyncApp, router: CommandRouter, services: Services) -> None:
    """The incident subcommands, card buttons, the declare modal and timeline capture."""
    commands.register(router, services)
    listeners.register(app, services)
    capture.register(app, services)


__all__ = ["api", "flows", "listeners", "messages", "register"]
