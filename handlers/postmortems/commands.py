"""The postmortem subcommands: `postmortem [owner @user]`, `actions [@user|mine|overdue]`,
`postmortems [due|overdue]`."""

from dataclasses import replace
from datetime import timedelta

from domain.postmortem import ItemStatus, State, is_overdue
from handlers.command import ActionsRequest, CommandRouter, Decision, PostmortemRequest, PostmortemsRequest
from handlers.incidents import flows as incident_flows
from handlers.postmortems import effects, flows, messages
from handlers.postmortems.flows import Postmortems
from handlers.postmortems.reminders import Reminders
from handlers.slack import SlashCommand

_DUE_SOON = timedelta(days=7)


def register(router: CommandRouter, pms: Postmortems, reminders: Reminders) -> None:
    async def postmortem(command: SlashCommand, request: PostmortemRequest) -> Decision:
        incident = await incident_flows.find_incident(pms.services, request.target, command.channel_id)
        if request.owner is not None:
            owner = request.owner
            number = incident.number
            pm = await flows.update(pms, number, lambda p: replace(p, owner=owner), [effects.draft(number)])
            await reminders.schedule_postmortem(pm)
            return Decision(messages.owner_reply(pm.number, owner), pm.number)
        pm, created = await flows.start(pms, incident)  # the draft is queued, to go out after the answer
        if created:
            await reminders.schedule_postmortem(pm)
        return Decision(messages.started_reply(pm.number, created), pm.number)

    async def actions(command: SlashCommand, request: ActionsRequest) -> Decision:
        items = await pms.store.items(status=ItemStatus.OPEN)
        today = pms.services.clock().date()
        heading = "Open action items"
        if request.owner is not None:
            items = [item for item in items if item.owner == request.owner]
            heading += f" of <@{request.owner}>"
        if request.overdue:
            items = [item for item in items if item.overdue(today)]
            heading = "Overdue action items"
        return Decision(messages.actions_text(items, heading), blocks=messages.actions_list(items, heading))

    async def postmortems(command: SlashCommand, request: PostmortemsRequest) -> Decision:
        today = pms.services.clock().date()
        pms_all = await pms.store.all()
        heading = "Postmortems"
        if request.which == "overdue":
            pms_all, heading = [p for p in pms_all if is_overdue(p, today)], "Overdue postmortems"
        elif request.which == "due":
            soon = today + _DUE_SOON
            pms_all = [p for p in pms_all if p.due and p.state is not State.PUBLISHED and p.due <= soon]
            heading = "Postmortems due within a week"
        return Decision(messages.postmortems_list(pms_all, heading, today))

    router.add(PostmortemRequest, postmortem)
    router.add(ActionsRequest, actions)
    router.add(PostmortemsRequest, postmortems)
