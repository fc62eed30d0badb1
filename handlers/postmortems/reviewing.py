"""Timeline edits, action items, review and publishing: their buttons and modals, each by its own id."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from sqlalchemy.exc import SQLAlchemyError

from domain import IncidentError, InvalidValue
from domain.postmortem import (
    ActionItem,
    ActionKind,
    ItemStatus,
    Postmortem,
    Priority,
    State,
    approve,
    ask_review,
    missing_for_publish,
    request_changes,
    timeline_lines,
)
from handlers.postmortems import effects, flows, messages, modals
from handlers.postmortems.drafting import ref_of, tell
from handlers.postmortems.flows import Postmortems
from handlers.postmortems.reminders import Reminders
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId, BlockActions, BlockId, CallbackId, ViewSubmission
from handlers.slack.blocks import Block

ViewFor = Callable[[Postmortem], Awaitable[Block]]
Listener = Callable[..., Awaitable[None]]

log = structlog.get_logger()


def register(app: AsyncApp, pms: Postmortems, reminders: Reminders) -> None:
    slack = pms.services.slack

    def opener(build: ViewFor) -> Listener:
        """A button that opens a modal about the postmortem at once (the trigger expires in 3 s)."""

        async def handle_postmortem_modal_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            payload = BlockActions.model_validate(body)
            await ack()
            try:
                pm = await flows.load(pms, ref_of(payload).number)
                view = await build(pm)
            except IncidentError as error:
                await tell(respond, messages.refused(str(error)))
                return
            await slack.open_modal(payload.trigger_id, view)

        return handle_postmortem_modal_button

    async def item_view(pm: Postmortem) -> Block:
        return modals.item_modal(pm.number, pm.owner)

    async def review_view(pm: Postmortem) -> Block:
        return modals.review_modal(pm.number)

    async def changes_view(pm: Postmortem) -> Block:
        return modals.changes_modal(pm.number)

    async def publish_view(pm: Postmortem) -> Block:
        missing = missing_for_publish(pm, await pms.store.items(pm.number))
        return modals.publish_modal(pm.number, missing, amendment=pm.state is State.PUBLISHED)

    async def timeline_view(pm: Postmortem) -> Block:
        doc = await flows.document(pms, pm.number, pm)
        lines = timeline_lines(doc.timeline, pm.timeline)
        return modals.timeline_modal(pm.number, lines, doc.durations.impact_started, doc.durations.impact_ended)

    app.action(ActionId.POSTMORTEM_TIMELINE)(opener(timeline_view))
    app.action(ActionId.POSTMORTEM_ADD_ITEM)(opener(item_view))
    app.action(ActionId.POSTMORTEM_ASK_REVIEW)(opener(review_view))
    app.action(ActionId.POSTMORTEM_REQUEST_CHANGES)(opener(changes_view))
    app.action(ActionId.POSTMORTEM_PUBLISH)(opener(publish_view))
    _register_submissions(app, pms, reminders)
    _register_item_buttons(app, pms)


def _register_submissions(app: AsyncApp, pms: Postmortems, reminders: Reminders) -> None:
    async def handle_action_item_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref = PostmortemRef.load(payload.view.private_metadata)
        try:
            item = _item_from(pms, payload, ref.number)
        except InvalidValue as error:
            await ack(response_action="errors", errors={BlockId.PM_ITEM_TICKET: str(error)})
            return
        stored = await pms.store.add_item(item, effects.staged(pms.services, ref.number, [effects.draft(ref.number)]))
        await ack()
        log.info("action_item_added", incident=ref.number, item=stored.id)
        effects.carry_out(pms.services, ref.number)
        await reminders.schedule_item(stored)

    async def handle_timeline_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref, view = PostmortemRef.load(payload.view.private_metadata), payload.view
        change = flows.TimelineChange(
            key=view.options(BlockId.PM_KEY),
            excluded=view.options(BlockId.PM_EXCLUDED),
            impact_started=view.moment(BlockId.PM_IMPACT_STARTED),
            impact_ended=view.moment(BlockId.PM_IMPACT_ENDED),
            add_at=view.moment(BlockId.PM_ADD_AT),
            add_text=view.input(BlockId.PM_ADD_TEXT),
        )
        try:
            await flows.edit_timeline(pms, ref.number, payload.user.id, change)
        except IncidentError as error:
            await ack(response_action="errors", errors={BlockId.PM_ADD_TEXT: str(error)})
            return
        await ack()

    app.view(CallbackId.POSTMORTEM_TIMELINE)(handle_timeline_submission)
    app.view(CallbackId.POSTMORTEM_ITEM)(handle_action_item_submission)
    _register_review_submissions(app, pms)


def _register_review_submissions(app: AsyncApp, pms: Postmortems) -> None:
    async def handle_review_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref = PostmortemRef.load(payload.view.private_metadata)
        reviewers = payload.view.users(BlockId.PM_REVIEWERS)
        asks = [effects.review_request(ref.number, reviewer, payload.user.id) for reviewer in reviewers]
        try:  # each reviewer's DM and the draft are queued with the change, and go out after the answer
            await flows.update(pms, ref.number, lambda p: ask_review(p, reviewers), [*asks, effects.draft(ref.number)])
        except IncidentError as error:
            await ack(response_action="errors", errors={BlockId.PM_REVIEWERS: str(error)})
            return
        await ack()

    async def handle_changes_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref, reviewer = PostmortemRef.load(payload.view.private_metadata), payload.user.id
        reply = effects.in_thread(
            ref.number, messages.changes_requested(reviewer, payload.view.input(BlockId.PM_COMMENT))
        )
        try:
            await flows.update(
                pms, ref.number, lambda p: request_changes(p, reviewer), [reply, effects.draft(ref.number)]
            )
        except IncidentError as error:
            await ack(response_action="errors", errors={BlockId.PM_COMMENT: str(error)})
            return
        await ack()

    async def handle_publish_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = ViewSubmission.model_validate(body)
        ref = PostmortemRef.load(payload.view.private_metadata)
        try:
            await flows.publish(pms, ref.number, payload.user.id)
        except IncidentError as error:
            await ack(response_action="update", view=modals.publish_failed(ref.number, messages.refused(str(error))))
            return
        except SQLAlchemyError as error:  # the transaction rolled back: the draft is as it was
            log.warning("postmortem_publish_failed", incident=ref.number, error=type(error).__name__)
            await ack(
                response_action="update", view=modals.publish_failed(ref.number, messages.sql_unavailable(ref.number))
            )
            return
        await ack()  # the published post and its announcement are queued with the publication

    app.view(CallbackId.POSTMORTEM_REVIEW)(handle_review_submission)
    app.view(CallbackId.POSTMORTEM_CHANGES)(handle_changes_submission)
    app.view(CallbackId.POSTMORTEM_PUBLISH)(handle_publish_submission)


def _item_from(pms: Postmortems, payload: ViewSubmission, number: int) -> ActionItem:
    view = payload.view
    priority = Priority(view.input(BlockId.PM_ITEM_PRIORITY) or Priority.P2)
    today = pms.services.clock().date()
    raw_due = view.input(BlockId.PM_ITEM_DUE)
    ticket = view.input(BlockId.PM_ITEM_TICKET) or None
    if ticket is not None and not ticket.startswith(("https://", "http://")):
        raise InvalidValue("A ticket URL starts with https://.")
    return ActionItem(
        id=0,
        number=number,
        text=view.input(BlockId.PM_ITEM_TEXT).strip(),
        kind=ActionKind(view.input(BlockId.PM_ITEM_KIND) or ActionKind.PREVENT),
        owner=view.input(BlockId.PM_ITEM_OWNER) or None,
        priority=priority,
        due=date.fromisoformat(raw_due) if raw_due else pms.policy.item_due(priority, today),
        ticket_url=ticket,
    )


def _register_item_buttons(app: AsyncApp, pms: Postmortems) -> None:
    def marker(status: ItemStatus) -> Listener:
        async def handle_action_item_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            payload = BlockActions.model_validate(body)
            ref = ref_of(payload)
            await ack()
            redraw = effects.staged(pms.services, ref.number, [effects.draft(ref.number)])
            item = await pms.store.set_item_status(ref.item or 0, status, redraw)
            if item is None:
                await tell(respond, messages.refused("That action item no longer exists."))
                return
            log.info("action_item_changed", item=item.id, status=status.value)
            effects.carry_out(pms.services, ref.number)
            await tell(respond, messages.item_changed(item))

        return handle_action_item_button

    async def handle_postmortem_approve_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        number, reviewer = ref_of(payload).number, payload.user.id
        await ack()
        reply = effects.in_thread(number, messages.approved(reviewer))
        try:
            await flows.update(pms, number, lambda p: approve(p, reviewer), [reply, effects.draft(number)])
        except IncidentError as error:
            await tell(respond, messages.refused(str(error)))

    app.action(ActionId.ITEM_DONE)(marker(ItemStatus.DONE))
    app.action(ActionId.ITEM_WONT_DO)(marker(ItemStatus.WONT_DO))
    app.action(ActionId.POSTMORTEM_APPROVE)(handle_postmortem_approve_button)
