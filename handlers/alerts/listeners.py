"""The alert capability's Slack surface: the "Declare incident" button and `runbook [name]`."""

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain.runbooks import slack_text
from handlers.alerts import flows, messages
from handlers.alerts.messages import AlertGroupAction
from handlers.command import CommandRouter, Decision, RunbookRequest, UsageError
from handlers.services import Services
from handlers.slack import ActionId, BlockActions, SlashCommand, incident_key


def register(app: AsyncApp, router: CommandRouter, services: Services) -> None:
    async def handle_declare_from_alerts_action(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        group = AlertGroupAction.model_validate_json(payload.actions[0].chosen)
        incident = await flows.declare_from_group(services, group.group_key, payload.user.id)
        await ack()

        async def tell() -> None:
            text = messages.group_follows(incident.number)
            await respond(text=text, response_type="ephemeral", replace_original=False)

        services.outbox.submit(incident_key(incident.number), tell)

    async def runbook(command: SlashCommand, request: RunbookRequest) -> Decision:
        return Decision(_runbook_reply(services, request.name))

    app.action(ActionId.DECLARE_FROM_ALERTS)(handle_declare_from_alerts_action)
    router.add(RunbookRequest, runbook)


def _runbook_reply(services: Services, name: str | None) -> str:
    names = services.runbooks.names()
    if name is None:
        return messages.runbook_list(names, services.command)
    runbook = services.runbooks.get(name)
    if runbook is None:
        raise UsageError(messages.no_such_runbook(name, names))
    return messages.runbook_message(", ".join(sorted(runbook.alertnames)) or name, runbook.title, slack_text(runbook))
