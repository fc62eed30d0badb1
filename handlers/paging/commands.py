"""The paging subcommands (`page`, `oncall`, `oncall override`) and the page DM's Acknowledge button."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from domain import Acknowledge
from handlers.command import (
    CancelOverrideRequest,
    CommandRouter,
    Decision,
    OnCallRequest,
    OverrideRequest,
    OverridesRequest,
    PageRequest,
    UsageError,
)
from handlers.incidents import flows
from handlers.incidents.listeners import act_on_click
from handlers.paging import messages
from handlers.paging.pager import Pager
from handlers.paging.schedule import PageId
from handlers.services import Services
from handlers.slack import ActionId, BlockActions, SlashCommand


def register(app: AsyncApp, router: CommandRouter, services: Services, pager: Pager | None) -> None:
    """Without a pager (no on-call config) the subcommands say how to set paging up."""

    def need_pager() -> Pager:
        if pager is None:
            raise UsageError(messages.paging_not_set_up())
        return pager

    async def page(command: SlashCommand, request: PageRequest) -> Decision:
        paging = need_pager()
        incident = await flows.find_incident(services, request.target, command.channel_id)
        page_id = PageId.manual(incident.number, command.trigger_id)
        await paging.page(incident, request.whom, command.user_id, page_id)
        return Decision(messages.paging_reply(str(request.whom), incident.number), incident.number)

    async def oncall(command: SlashCommand, request: OnCallRequest) -> Decision:
        paging, now = need_pager(), services.clock()
        names = [request.rotation] if request.rotation else sorted(paging.oncall.rotations)
        directory = paging.directory
        texts = [messages.oncall_text(name, await directory.shown(await directory.shifts(name, now))) for name in names]
        return Decision("\n".join(texts))

    async def override(command: SlashCommand, request: OverrideRequest) -> Decision:
        paging, now = need_pager(), services.clock()
        rotation = paging.oncall.rotation(request.rotation)
        end = now + request.length if request.length else _until(request.until or "", rotation.timezone, now)
        change = await paging.overrides.take(request.rotation, request.user, end, command.user_id)
        reply = messages.override_done(change.stored, services.command)
        return Decision(reply, follow_up=lambda: paging.overrides.announce(change))

    async def cancel_override(command: SlashCommand, request: CancelOverrideRequest) -> Decision:
        paging = need_pager()
        change = await paging.overrides.cancel(request.override_id, command.user_id)
        reply = messages.override_cancelled(request.override_id)
        return Decision(reply, follow_up=lambda: paging.overrides.announce(change))

    async def list_overrides(command: SlashCommand, request: OverridesRequest) -> Decision:
        listed = await need_pager().overrides.listed(request.rotation)
        return Decision(messages.overrides_text(request.rotation, listed))

    async def handle_page_acknowledge_action(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        payload = BlockActions.model_validate(body)
        await act_on_click(services, payload, lambda user, _: Acknowledge(user), ack, respond)

    router.add(PageRequest, page)
    router.add(OnCallRequest, oncall)
    router.add(OverrideRequest, override)
    router.add(CancelOverrideRequest, cancel_override)
    router.add(OverridesRequest, list_overrides)
    app.action(ActionId.PAGE_ACKNOWLEDGE)(handle_page_acknowledge_action)


def _until(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """`2026-11-26T09:00` or `09:00` (its next occurrence), as wall-clock time in the rotation's timezone."""
    try:
        if ":" in text and "T" not in text and len(text) <= 5:
            hour, minute = (int(part) for part in text.split(":"))
            local = now.astimezone(zone).replace(hour=hour, minute=minute, second=0, microsecond=0)
            end = local if local > now else local + timedelta(days=1)
        else:
            end = datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        raise UsageError(messages.not_a_time(text)) from None
    if end <= now:
        raise UsageError(messages.in_the_past(text))
    return end.astimezone(UTC)
