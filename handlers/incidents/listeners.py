"""Card buttons and the declaration modal, each registered by its own action_id or callback_id."""

from collections.abc import Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain import Acknowledge, ChangeSeverity, ChangeStatus, Event, IncidentError, Reopen, Resolve, Severity, Status
from handlers.incidents import flows, messages
from handlers.incidents.messages import CardAction
from handlers.services import Services
from handlers.slack import ActionId, BlockActions, BlockId, CallbackId, ViewSubmission, incident_key
from handlers.slack.blocks import TITLE_LIMIT, clip, escape
from handlers.slack.messages import slack_failed
from handlers.slack.payloads import has_control_characters

log = structlog.get_logger()

EventFor = Callable[[str, str], Event]  # (the user who clicked, the option chosen) -> the event


_CARD_EVENTS: dict[ActionId, EventFor] = {
    ActionId.ACKNOWLEDGE: lambda user, _: Acknowledge(user),
    ActionId.RESOLVE: lambda user, _: Resolve(user),
    ActionId.REOPEN: lambda user, _: Reopen(user),
    ActionId.CHANGE_STATUS: lambda user, choice: ChangeStatus(user, Status.parse(choice)),
    ActionId.CHANGE_SEVERITY: lambda user, choice: ChangeSeverity(user, Severity.parse(choice)),
}


def register(app: AsyncApp, services: Services) -> None:
    for action_id, event_for in _CARD_EVENTS.items():
        app.action(action_id)(_card_listener(services, event_for))

    async def handle_declare_modal_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        await _declare_from_modal(services, ViewSubmission.model_validate(body), ack)

    app.view(CallbackId.DECLARE_MODAL)(handle_declare_modal_submission)


def _card_listener(services: Services, event_for: EventFor) -> Callable[..., Any]:
    async def handle_card_action(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await act_on_click(services, BlockActions.model_validate(body), event_for, ack, respond)

    return handle_card_action


async def act_on_click(
    services: Services, payload: BlockActions, event_for: EventFor, ack: AsyncAck, respond: AsyncRespond
) -> None:
    """A button or select about an incident (its value a `CardAction`): apply the event, then update Slack."""
    action = payload.actions[0]
    try:
        if action.selected_option is not None:
            state, choice = CardAction.parse_option(action.chosen)
        else:
            state, choice = CardAction.model_validate_json(action.chosen), ""
        incident = await services.incidents.get(state.number)
        transition = await flows.act(services, incident, event_for(payload.user.id, choice))
    except IncidentError as error:
        await ack()
        await respond(text=messages.action_refused(str(error)), response_type="ephemeral", replace_original=False)
        log.info("action_refused", action=action.action_id, reason=str(error))
        return
    await ack()

    async def carry_out() -> None:
        failures = await flows.perform(services, transition.incident, transition.journal)
        if failures:
            text = slack_failed(incident.number, failures)
            await respond(text=text, response_type="ephemeral", replace_original=False)

    services.outbox.submit(incident_key(incident.number), carry_out)


async def _declare_from_modal(services: Services, payload: ViewSubmission, ack: AsyncAck) -> None:
    view = payload.view
    title, description = view.input(BlockId.TITLE).strip(), view.input(BlockId.DESCRIPTION)
    if not title:
        await ack(response_action="errors", errors={BlockId.TITLE: "Give the incident a title."})
        return
    if has_control_characters(title + description):
        await ack(response_action="errors", errors={BlockId.TITLE: "Type the title and description as plain text."})
        return
    try:
        severity = Severity.parse(view.input(BlockId.SEVERITY) or "3")
    except IncidentError as error:
        await ack(response_action="errors", errors={BlockId.SEVERITY: str(error)})
        return
    incident, _ = await flows.declare_incident(  # modal input is raw text: escaped like alert text
        services,
        title=escape(clip(title, TITLE_LIMIT)),
        severity=severity,
        declared_by=payload.user.id,
        description=escape(clip(description, 2900)),
        idempotency_key=flows.IdempotencyKey.view(view.id),
        drill="drill" in view.options(BlockId.DRILL),
    )
    await ack()

    async def set_up() -> None:
        _, failure = await flows.try_open_channel(services, incident)
        if failure:
            await services.slack.post(payload.user.id, slack_failed(incident.number, [failure]))

    services.outbox.submit(incident_key(incident.number), set_up)
