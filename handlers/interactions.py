"""Card buttons and the declaration modal."""

from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain import Acknowledge, ChangeSeverity, ChangeStatus, Event, IncidentError, Reopen, Resolve, Severity, Status
from handlers import alert_flows, blocks, flows
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.payloads import BlockActions, ViewSubmission

log = structlog.get_logger()


def register(app: AsyncApp, services: flows.Services) -> None:
    async def handle_card_action(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await _card_action(services, BlockActions.model_validate(body), ack, respond)

    async def handle_declare_modal_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        await _declare_from_modal(services, ViewSubmission.model_validate(body), ack)

    async def handle_declare_from_alerts_action(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        group = blocks.AlertGroupAction.model_validate_json(payload.actions[0].chosen)
        await ack()
        incident = await alert_flows.declare_from_group(services, group.group_key, payload.user.id)
        text = f"Incident #{incident.number} follows this alert group."
        await respond(text=text, response_type="ephemeral", replace_original=False)

    for action_id in ActionId:  # the card's buttons and selects, and the page DM's Acknowledge
        if action_id is not ActionId.DECLARE_FROM_ALERTS:
            app.action(action_id)(handle_card_action)
    app.action(ActionId.DECLARE_FROM_ALERTS)(handle_declare_from_alerts_action)
    app.view(CallbackId.DECLARE_MODAL)(handle_declare_modal_submission)


def _event(action_id: str, choice: str, user: str) -> Event:
    match action_id:
        case ActionId.ACKNOWLEDGE | ActionId.PAGE_ACKNOWLEDGE:
            return Acknowledge(user)
        case ActionId.RESOLVE:
            return Resolve(user)
        case ActionId.REOPEN:
            return Reopen(user)
        case ActionId.CHANGE_STATUS:
            return ChangeStatus(user, Status.parse(choice))
        case _:
            return ChangeSeverity(user, Severity.parse(choice))


async def _card_action(services: flows.Services, payload: BlockActions, ack: AsyncAck, respond: AsyncRespond) -> None:
    action = payload.actions[0]
    try:
        if action.selected_option is not None:
            state, choice = blocks.parse_select_value(action.chosen)
        else:
            state, choice = blocks.CardAction.model_validate_json(action.chosen), ""
        incident = await services.incidents.get(state.number)
        transition = await flows.act(services, incident, _event(action.action_id, choice, payload.user.id))
    except IncidentError as error:
        await ack()
        await respond(text=f"⚠️ {error}", response_type="ephemeral", replace_original=False)
        log.info("action_refused", action=action.action_id, reason=str(error))
        return
    await ack()
    failures = await flows.perform(services, transition.incident, transition.effects)
    if failures:
        text = blocks.slack_failed(incident.number, failures)
        await respond(text=text, response_type="ephemeral", replace_original=False)


async def _declare_from_modal(services: flows.Services, payload: ViewSubmission, ack: AsyncAck) -> None:
    view = payload.view
    title = view.input(BlockId.TITLE).strip()
    if not title:
        await ack(response_action="errors", errors={BlockId.TITLE: "Give the incident a title."})
        return
    try:
        severity = Severity.parse(view.input(BlockId.SEVERITY) or "3")
    except IncidentError as error:
        await ack(response_action="errors", errors={BlockId.SEVERITY: str(error)})
        return
    incident, _ = await flows.declare_incident(
        services,
        title=title,
        severity=severity,
        declared_by=payload.user.id,
        description=view.input(BlockId.DESCRIPTION),
        idempotency_key=f"view:{view.id}",
    )
    await ack()
    _, failure = await flows.try_open_channel(services, incident)
    if failure:
        await services.slack.post(payload.user.id, blocks.slack_failed(incident.number, [failure]))
