"""The postmortem capability's Slack effects, as durable queue entries: what they say and under which key.

A change that has an SQL write stages its effects in that write's transaction (`staged`) and starts them
after the commit (`carry_out`); the performers (`performers.py`) carry them out once each. A postmortem's
effects share one queue key, so they go out in order: the review requests before the re-rendered draft.
"""

from collections.abc import Sequence

from handlers.services import Services
from handlers.slack.effects import Body
from storage.incidents import Effects

DRAFT, THREAD, REVIEW, MESSAGE, ANNOUNCE = "pm_draft", "pm_thread", "pm_review", "pm_message", "pm_announce"


def postmortem_key(number: int) -> str:
    """The effect queue of one incident's postmortem."""
    return f"postmortem:{number}"


def draft(number: int) -> Body:
    """Post and pin the draft once, or re-render it from what is stored when it runs (the latest one wins)."""
    return {"kind": DRAFT, "number": number, "latest_wins": True}


def announcement(number: int) -> Body:
    """The published postmortem in its channel and its summary in INCIDENTS_CHANNEL, once per revision."""
    return {"kind": ANNOUNCE, "number": number}


def in_thread(number: int, text: str) -> Body:
    """A reply in the draft's thread (none while the draft is not posted)."""
    return {"kind": THREAD, "number": number, "text": text}


def review_request(number: int, reviewer: str, asker: str) -> Body:
    """A DM asking `reviewer` to review, with a link to the draft as it is when it goes out."""
    return {"kind": REVIEW, "number": number, "reviewer": reviewer, "asker": asker}


def message(channel: str, text: str, once: str) -> Body:
    """A message (a DM when `channel` is a user) tagged with `once`, the token it is queued once by."""
    return {"kind": MESSAGE, "channel": channel, "text": text, "once": once}


def staged(services: Services, number: int, bodies: Sequence[Body]) -> list[Effects]:
    """The postmortem's effects, for a store method to queue in its transaction."""
    return [(postmortem_key(number), bodies, services.clock())] if bodies else []


def carry_out(services: Services, number: int) -> None:
    """Start the postmortem's due effects (those just staged) behind its earlier Slack work."""
    key = postmortem_key(number)

    async def run() -> None:
        await services.effects.run_due(key)

    services.outbox.submit(key, run)
