"""The incident capability's Slack effects, as durable queue entries: posts, invites and card refreshes.

A flow turns its transition's effects into bodies (`bodies`) stored with the change; the performers here
carry them out. A post carries its effect id as message metadata, so a retry after a crash looks for it in
the channel before posting again.
"""

from collections.abc import Awaitable, Callable, Sequence

from domain import Announce, Effect, Incident, InviteToChannel, PostInChannel, RefreshCard
from handlers.incidents import messages
from handlers.services import Services
from handlers.slack.blocks import Block
from handlers.slack.effects import Body, Later
from storage.effects import QueuedEffect

_TAG = "firebreak_effect"
CARD = "card"  # the effect kind of a card refresh


def post(number: int | None, text: str, blocks: Sequence[Block] | None = None, channel: str | None = None) -> Body:
    """A post in the incident's channel, once that channel exists, or in `channel` (`number` may be None)."""
    body: Body = {"kind": "post", "number": number, "text": text, "channel": channel}
    return body | ({"blocks": [dict(block) for block in blocks]} if blocks else {})


def card(number: int) -> Body:
    """A re-render of the incident's card from its current state (the newest of a key's stands for the rest)."""
    return {"kind": CARD, "number": number, "latest_wins": True}


def bodies(services: Services, incident: Incident, effects: Sequence[Effect]) -> list[Body]:
    """The queued form of a transition's Slack effects (a Record is not one: it is the timeline entry)."""
    queued: list[Body] = []
    number, channel = incident.number, set_up_channel(incident)
    for effect in effects:
        match effect:
            case RefreshCard():
                queued.append(card(number))
            case PostInChannel(change=change, detail=detail):
                queued.append(post(number, messages.change_in_channel(incident, change, detail), channel=channel))
            case Announce(change=change, detail=detail) if services.announcements(incident.drill):
                text = messages.change_announcement(incident, change, detail)
                queued.append(post(number, text, channel=services.announcements(incident.drill)))
            case InviteToChannel(user=user):
                queued.append({"kind": "invite", "number": number, "user": user, "channel": channel})
    return queued


def set_up_channel(incident: Incident) -> str | None:
    """The incident's channel once its setup posted the card there (an effect queued then carries it, so
    carrying it out reads no incident); None before."""
    return incident.channel_id if incident.card_ts is not None else None


def register(services: Services, refresh_card: Callable[[Services, int], Awaitable[bool]]) -> None:
    """Teach the effect queue this capability's kinds."""

    async def perform_post(effect: QueuedEffect) -> None:
        body = effect.body
        channel = str(body["channel"]) if body.get("channel") else await _channel(services, int(str(body["number"])))
        tag = (_TAG, str(effect.id))
        if effect.attempts > 1 and await services.slack.find_posted(channel, tag) is not None:
            return  # an earlier attempt posted it and died before marking it done
        blocks = body.get("blocks")
        posted = [block for block in blocks if isinstance(block, dict)] if isinstance(blocks, list) else None
        await services.slack.post(channel, str(body["text"]), posted, tag=tag)

    async def perform_invite(effect: QueuedEffect) -> None:
        body = effect.body
        channel = str(body["channel"]) if body.get("channel") else await _channel(services, int(str(body["number"])))
        await services.slack.invite(channel, [str(effect.body["user"])])

    async def perform_card(effect: QueuedEffect) -> None:
        number = int(str(effect.body["number"]))
        if not await refresh_card(services, number):
            raise Later(f"incident #{number} has no card yet")  # its setup is under way, here or elsewhere

    services.effects.register("post", perform_post)
    services.effects.register("invite", perform_invite)
    services.effects.register(CARD, perform_card)


async def _channel(services: Services, number: int) -> str:
    channel = await services.incidents.set_up_channel(number)
    if channel is None:
        raise Later(f"incident #{number} has no channel yet")
    return channel
