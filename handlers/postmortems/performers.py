"""Carrying out the postmortem's queued Slack effects, each once: the draft, thread replies, review requests,
the published post and its announcement, reminders and the digest.

Each post carries a metadata tag. A retry (the effect's process died after Slack took the post, before it was
marked done) looks for its tag before posting again: in the channel, the draft's thread, or the DM. The draft
is looked for whenever its message is not recorded yet (any of its effects may find the one another posted).
"""

from dataclasses import replace

import structlog
from slack_sdk.errors import SlackApiError

from domain import Incident
from domain import postmortem as model
from domain.postmortem import Postmortem
from domain.postmortem_markdown import Document
from handlers.incidents import timeline as timeline_flows
from handlers.postmortems import effects, flows, messages
from handlers.postmortems.flows import Postmortems
from handlers.services import Services
from handlers.slack import Message, describe_failure
from handlers.slack.effects import Later
from storage.effects import QueuedEffect

log = structlog.get_logger()

_TAG = "firebreak_postmortem"  # the metadata event type of the postmortem's posts


def register(pms: Postmortems) -> None:
    """Teach the effect queue the postmortem's kinds."""

    async def perform_draft(effect: QueuedEffect) -> None:
        await _show_draft(pms, int(str(effect.body["number"])))

    async def perform_thread(effect: QueuedEffect) -> None:
        pm = await flows.load(pms, int(str(effect.body["number"])))
        if pm.channel_id and pm.message_ts:  # no draft message: nothing to reply to (as before it is posted)
            text, tag = str(effect.body["text"]), (_TAG, f"effect:{effect.id}")
            await _post_once(pms.services, pm.channel_id, text, tag, effect.attempts > 1, pm.message_ts)

    async def perform_review(effect: QueuedEffect) -> None:
        number = int(str(effect.body["number"]))
        incident, pm = await pms.services.incidents.get(number), await flows.load(pms, number)
        link = ""
        if pm.channel_id and pm.message_ts:
            link = await pms.services.slack.permalink(Message(pm.channel_id, pm.message_ts))
        text = messages.review_request(incident, str(effect.body["asker"]), link)
        tag = (_TAG, f"effect:{effect.id}")
        await _post_once(pms.services, str(effect.body["reviewer"]), text, tag, effect.attempts > 1)

    async def perform_announce(effect: QueuedEffect) -> None:
        await flows.announce_published(pms, int(str(effect.body["number"])), look=effect.attempts > 1)

    async def perform_message(effect: QueuedEffect) -> None:
        body, look = effect.body, effect.attempts > 1
        await _post_once(pms.services, str(body["channel"]), str(body["text"]), (_TAG, str(body["once"])), look)

    queue = pms.services.effects
    queue.register(effects.DRAFT, perform_draft)
    queue.register(effects.THREAD, perform_thread)
    queue.register(effects.REVIEW, perform_review)
    queue.register(effects.MESSAGE, perform_message)
    queue.register(effects.ANNOUNCE, perform_announce)


async def _show_draft(pms: Postmortems, number: int) -> None:
    """Post and pin the draft message once, or update it in place from what is stored now."""
    pm = await flows.load(pms, number)
    if pm.message_ts and pm.channel_id:
        await _render_draft(pms, pm, Message(pm.channel_id, pm.message_ts))
        return
    # held as long as an effect is: a process that dies holding it holds up the next one no longer than that
    held = await pms.services.seen.claim("postmortem-draft", str(number), pms.services.effects.lease)
    if held is None:
        raise Later(f"the draft of #{number} is being posted elsewhere")  # then it is there to re-render
    try:
        await _post_draft(pms, number)
    finally:
        await held.let_go()


async def _post_draft(pms: Postmortems, number: int) -> None:
    pm = await flows.load(pms, number)  # again, under the claim: another process may have posted it meanwhile
    if pm.message_ts and pm.channel_id:
        await _render_draft(pms, pm, Message(pm.channel_id, pm.message_ts))
        return
    incident = await pms.services.incidents.get(number)
    if incident.channel_id is None:
        return
    slack, tag = pms.services.slack, (_TAG, f"{number}:draft")
    text, blocks = messages.draft_text(pm, incident), await _draft_blocks(pms, pm, incident)
    posted = await pms.services.slack.find_posted(
        incident.channel_id, tag
    )  # posted by an attempt that died before noting it
    if posted is None:
        posted = await slack.post(incident.channel_id, text, blocks, tag=tag)
    else:
        await slack.update(posted, text, blocks)
    await slack.pin(posted)
    await flows.update(pms, number, lambda p: replace(p, channel_id=posted.channel, message_ts=posted.ts))


async def _render_draft(pms: Postmortems, pm: Postmortem, message: Message) -> None:
    incident = await pms.services.incidents.get(pm.number)
    text, blocks = messages.draft_text(pm, incident), await _draft_blocks(pms, pm, incident)
    await pms.services.slack.update(message, text, blocks)


async def _draft_blocks(pms: Postmortems, pm: Postmortem, incident: Incident) -> list[dict[str, object]]:
    items = await pms.store.items(pm.number)
    target = pms.services.targets.of(incident.severity)
    durations = Document(incident, pm, tuple(items), (), target).durations
    lines = model.timeline_lines(await timeline_flows.read_timeline(pms.services, pm.number), pm.timeline)
    return messages.draft(pm, incident, items, durations, [line for line in lines if line.key and not line.excluded])


async def _post_once(
    services: Services, channel: str, text: str, tag: tuple[str, str], look: bool, thread_ts: str | None = None
) -> None:
    """Post `text` with `tag`; with `look`, only if no earlier post carries the tag (a DM to a user is looked for
    in the bot's DM channel with them)."""
    if look:
        where = await _dm_channel(services, channel) if channel.startswith(("U", "W")) else channel
        if where is not None and await services.slack.find_posted(where, tag, thread_ts) is not None:
            log.info("postmortem_post_found", tag=tag[1])
            return
    await services.slack.post(channel, text, tag=tag, thread_ts=thread_ts)


async def _dm_channel(services: Services, user: str) -> str | None:
    try:
        return await services.slack.open_dm(user)
    except SlackApiError as error:
        log.warning("postmortem_dm_unopened", failure=describe_failure(error))
        return None
