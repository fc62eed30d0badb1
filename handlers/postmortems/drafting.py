"""Drafting in the channel: start, Edit buttons and their modals (with conflict detection and reload), the
5 whys, and adding a channel message to a section (the "Add to postmortem" shortcut and the 📝 reaction).

Each listener is registered by its own action_id or callback_id; `register` must run before the incident
capability's, so the 📝 reaction reaches this listener and 📌 goes on to timeline capture.
"""

from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain import IncidentError
from domain.postmortem import EditConflict, SectionKey, next_why
from handlers.incidents.messages import CardAction
from handlers.postmortems import flows, messages, modals
from handlers.postmortems.flows import Postmortems
from handlers.postmortems.reminders import Reminders
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId, BlockActions, BlockId, CallbackId, MessageShortcut, ReactionAdded, ViewSubmission

log = structlog.get_logger()

ADD_REACTION = "memo"  # 📝


async def tell(respond: AsyncRespond, text: str) -> None:
    """An ephemeral answer to the person who clicked."""
    if respond.response_url:
        await respond(text=text, response_type="ephemeral", replace_original=False)


def ref_of(payload: BlockActions) -> PostmortemRef:
    return PostmortemRef.load(payload.actions[0].chosen)


def register(app: AsyncApp, pms: Postmortems, reminders: Reminders) -> None:
    slack = pms.services.slack

    async def handle_postmortem_start_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        await ack()
        try:
            incident = await pms.services.incidents.get(
                CardAction.model_validate_json(payload.actions[0].chosen).number
            )
            pm, created = await flows.start(pms, incident)
        except IncidentError as error:
            await tell(respond, messages.refused(str(error)))
            return
        if created:
            await reminders.schedule_postmortem(pm)
        await tell(respond, messages.started_reply(pm.number, created))

    async def handle_postmortem_edit_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        ref = ref_of(payload)
        await ack()
        try:
            pm = await flows.load(pms, ref.number)
        except IncidentError as error:
            await tell(respond, messages.refused(str(error)))
            return
        await slack.open_modal(
            payload.trigger_id, modals.section_modal(pm.number, pm.section(ref.section or SectionKey.SUMMARY))
        )

    async def handle_postmortem_reload_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = BlockActions.model_validate(body)
        ref = ref_of(payload)
        await ack()
        pm = await flows.load(pms, ref.number)
        if payload.view is not None:
            view = modals.section_modal(pm.number, pm.section(ref.section or SectionKey.SUMMARY))
            await slack.update_modal(payload.view.id, view, payload.view.hash or None)

    async def handle_postmortem_section_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        await _save_section(pms, ViewSubmission.model_validate(body), ack)

    app.action(ActionId.POSTMORTEM_START)(handle_postmortem_start_button)
    app.action(ActionId.POSTMORTEM_EDIT)(handle_postmortem_edit_button)
    app.action(ActionId.POSTMORTEM_RELOAD)(handle_postmortem_reload_button)
    app.view(CallbackId.POSTMORTEM_SECTION)(handle_postmortem_section_submission)
    _register_whys(app, pms)
    _register_adding(app, pms)


def _register_whys(app: AsyncApp, pms: Postmortems) -> None:
    slack = pms.services.slack

    async def handle_postmortem_whys_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        await ack()
        try:
            pm = await flows.load(pms, ref_of(payload).number)
        except IncidentError as error:
            await tell(respond, messages.refused(str(error)))
            return
        question = next_why(pm.whys)
        if question is None:
            await tell(respond, messages.whys_complete(pm.number))
            return
        await slack.open_modal(payload.trigger_id, modals.whys_modal(pm.number, pm.whys, question))

    async def handle_postmortem_whys_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref = PostmortemRef.load(payload.view.private_metadata)
        try:
            pm = await flows.answer_why(pms, ref.number, payload.view.input(BlockId.PM_WHY), ref.version)
        except IncidentError as error:
            await ack(response_action="errors", errors={BlockId.PM_WHY: str(error)})
            return
        question = next_why(pm.whys)
        if question is None:
            await ack()
        else:
            await ack(response_action="update", view=modals.whys_modal(pm.number, pm.whys, question))

    app.action(ActionId.POSTMORTEM_WHYS)(handle_postmortem_whys_button)
    app.view(CallbackId.POSTMORTEM_WHYS)(handle_postmortem_whys_submission)


async def _save_section(pms: Postmortems, payload: ViewSubmission, ack: AsyncAck) -> None:
    view = payload.view
    ref = PostmortemRef.load(view.private_metadata)
    key = ref.section or SectionKey.SUMMARY
    text = "".join(view.input(block_id) for block_id in modals.part_ids(modals.PARTS_MAX))
    try:
        await flows.save_section(pms, ref.number, key, text, ref.version, payload.user.id)
    except EditConflict as conflict:
        log.info("postmortem_edit_conflict", incident=ref.number, section=key.value, by=conflict.section.edited_by)
        await ack(response_action="update", view=modals.conflict_view(ref.number, conflict.section, text))
        return
    except IncidentError as error:
        await ack(response_action="errors", errors={modals.part_ids(1)[0]: str(error)})
        return
    await ack()


def _register_adding(app: AsyncApp, pms: Postmortems) -> None:
    slack = pms.services.slack

    async def handle_add_to_postmortem_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = MessageShortcut.model_validate(body)
        await ack()
        ref = await _ref_for_message(pms, payload.channel.id, payload.message.ts)
        if ref is None:
            await slack.post_ephemeral(
                payload.channel.id, payload.user.id, messages.no_postmortem_here(pms.services.command)
            )
            return
        await slack.open_modal(payload.trigger_id, modals.add_message_modal(ref))

    async def handle_add_message_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref = PostmortemRef.load(payload.view.private_metadata)
        key = SectionKey(payload.view.input(BlockId.PM_SECTION) or SectionKey.TIMELINE)
        await ack()
        text = await add_message(pms, ref.model_copy(update={"section": key}), payload.user.id)
        if ref.channel:
            await slack.post_ephemeral(ref.channel, payload.user.id, text)

    async def is_add_reaction(body: dict[str, Any]) -> bool:
        return (body.get("event") or {}).get("reaction") == ADD_REACTION

    async def handle_postmortem_reaction_added_event(event: dict[str, Any]) -> None:
        reaction = ReactionAdded.model_validate(event)
        ref = await _ref_for_message(pms, reaction.item.channel, reaction.item.ts)
        if reaction.item.type != "message" or ref is None:
            return
        text = messages.which_section()
        await slack.post_ephemeral(reaction.item.channel, reaction.user, text, modals.section_choice(ref))

    async def handle_add_message_section_pick(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        await ack()
        text = await add_message(pms, ref_of(payload), payload.user.id)
        if respond.response_url:
            await respond(text=text, replace_original=True)

    app.message_shortcut(CallbackId.ADD_TO_POSTMORTEM)(handle_add_to_postmortem_shortcut)
    app.view(CallbackId.POSTMORTEM_ADD_MESSAGE)(handle_add_message_submission)
    app.event("reaction_added", matchers=[is_add_reaction])(handle_postmortem_reaction_added_event)
    app.action(ActionId.POSTMORTEM_ADD_PICK)(handle_add_message_section_pick)


async def _ref_for_message(pms: Postmortems, channel: str, ts: str) -> PostmortemRef | None:
    """The postmortem of the incident whose channel this is, pointing at the message; None if there is none."""
    incident = await pms.services.incidents.find_by_channel(channel)
    if incident is None or await pms.store.get(incident.number) is None:
        return None
    return PostmortemRef(number=incident.number, channel=channel, message_ts=ts)


async def add_message(pms: Postmortems, ref: PostmortemRef, actor: str) -> str:
    """Append the message (its author and time) to the chosen section; the answer to show the person."""
    if ref.channel is None or ref.message_ts is None or ref.section is None:
        return messages.refused("That message is not known any more.")
    message = await pms.services.slack.fetch_message(ref.channel, ref.message_ts)
    if message is None:
        return messages.refused("That message is gone.")
    quoted = messages.quoted_message(message.text, message.user, message.at)
    await flows.append_to_section(pms, ref.number, ref.section, quoted, actor)
    log.info("postmortem_message_added", incident=ref.number, section=ref.section.value, message_ts=ref.message_ts)
    return messages.added_message(ref.number, ref.section)
