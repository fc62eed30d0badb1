"""Postmortems: written together in the incident channel, reviewed, published to SQL, followed up.

Drafting (the pinned draft, Edit modals, the 5 whys, adding channel messages), review and publishing, action
items, the `postmortem`, `actions` and `postmortems` subcommands, reminders and the weekly digest on timers
of their own, and the JSON/Markdown API.
"""

from slack_bolt.async_app import AsyncApp

from handlers.command import CommandRouter
from handlers.postmortems import api, commands, drafting, performers, reviewing
from handlers.postmortems.flows import POSTMORTEMS, Postmortems
from handlers.postmortems.reminders import Reminders

FAMILY = "postmortem-timers"  # the TimerStore family of reminders and the digest


def register(app: AsyncApp, router: CommandRouter, pms: Postmortems, reminders: Reminders) -> None:
    """Register before the incident capability (its 📌 reaction listener would take the 📝 reactions too)."""
    commands.register(router, pms, reminders)
    drafting.register(app, pms, reminders)
    reviewing.register(app, pms, reminders)


def register_effects(pms: Postmortems) -> None:
    """Teach the effect queue the postmortem's Slack effects (every process, with or without Bolt)."""
    performers.register(pms)


__all__ = ["FAMILY", "POSTMORTEMS", "Postmortems", "Reminders", "api", "register", "register_effects"]
