"""On-call overrides: who may take or give a shift, for how long, who is told, and how one is undone.

Only members of the rotation, or the config's `admins`, may set an override; it lasts at most `max_override`
(7 days by default). Every override and every cancellation is announced (in `oncall_channel`, else
INCIDENTS_CHANNEL) and DMed to the stand-in and to the person it displaces. An override is cancelled by its
stand-in, whoever set it, the person it displaced, or an admin.
"""

from dataclasses import dataclass
from datetime import datetime

import structlog
from slack_sdk.errors import SlackApiError

from domain import InvalidValue
from domain.rotation import Override, on_call
from handlers.paging import messages
from handlers.paging.directory import OnCallDirectory
from handlers.paging.handoffs import Handoffs
from handlers.services import Services
from handlers.slack import describe_failure
from storage.overrides import StoredOverride

log = structlog.get_logger()


@dataclass(frozen=True)
class OverrideChange:
    """An override set or cancelled: what to announce, and to whom (the stand-in and the displaced person)."""

    stored: StoredOverride
    displaced: str | None
    actor: str
    cancelled: bool = False


@dataclass(frozen=True)
class Overrides:
    services: Services
    directory: OnCallDirectory
    handoffs: Handoffs

    async def take(self, rotation: str, user: str, end: datetime, actor: str) -> OverrideChange:
        """`oncall override <rotation> @user <length>`: checked, stored, and the next hand-off re-armed."""
        now, oncall = self.services.clock(), self.directory.oncall
        oncall.rotation(rotation)  # InvalidValue if there is no such rotation
        await self._may_change(rotation, actor)
        if end - now > oncall.max_override:
            raise InvalidValue(messages.override_too_long(oncall.max_override))
        displaced = await self.directory.user_id((await self.directory.shifts(rotation, now, count=1))[0].user)
        override = Override(rotation, user, now, end)
        override_id = await self.directory.overrides.add(override, actor, now)
        await self.handoffs.arm(rotation)  # the next hand-off may now be this override's end
        log.info("oncall_overridden", rotation=rotation, user=user, until=end.isoformat(), override=override_id)
        return OverrideChange(StoredOverride(override_id, override, actor), displaced, actor)

    async def cancel(self, override_id: int, actor: str) -> OverrideChange:
        """`oncall override cancel <id>`: by its stand-in, whoever set it, the displaced person, or an admin."""
        stored = await self.directory.overrides.get(override_id)
        if stored is None:
            raise InvalidValue(messages.no_such_override(override_id))
        displaced = await self._displaced(stored)
        concerned = {stored.override.user, stored.created_by, displaced}
        if actor not in concerned and not await self._is_admin(actor):
            raise InvalidValue(messages.may_not_cancel(override_id))
        await self.directory.overrides.remove(override_id)
        await self.handoffs.arm(stored.override.rotation)
        log.info("oncall_override_cancelled", override=override_id, rotation=stored.override.rotation)
        return OverrideChange(stored, displaced, actor, cancelled=True)

    async def listed(self, rotation: str | None) -> list[StoredOverride]:
        if rotation is not None:
            self.directory.oncall.rotation(rotation)  # InvalidValue if there is no such rotation
        return await self.directory.overrides.listed(rotation, self.services.clock())

    async def announce(self, change: OverrideChange) -> list[str]:
        """Tell the on-call channel and DM the two people concerned; Slack refusals come back as `method: error`."""
        text = messages.override_notice(change.stored, change.displaced, change.actor, change.cancelled)
        channel = self.directory.oncall.oncall_channel or self.services.incidents_channel
        failures: list[str] = []
        targets = [channel] if channel else []
        people = dict.fromkeys(p for p in (change.stored.override.user, change.displaced) if p)
        for target in [*targets, *people]:
            try:
                where = target if target == channel else await self.services.slack.open_dm(target)
                await self.services.slack.post(where, text)
            except SlackApiError as error:
                log.warning("override_notice_failed", failure=describe_failure(error))
                failures.append(describe_failure(error))
        return failures

    async def _may_change(self, rotation: str, actor: str) -> None:
        members = self.directory.oncall.rotation(rotation).members
        if actor in [await self.directory.user_id(m) for m in members] or await self._is_admin(actor):
            return
        raise InvalidValue(messages.may_not_override(rotation))

    async def _is_admin(self, actor: str) -> bool:
        return actor in [await self.directory.user_id(admin) for admin in self.directory.oncall.admins]

    async def _displaced(self, stored: StoredOverride) -> str | None:
        """Who would have been on call at the override's start without it."""
        override = stored.override
        others = [
            s.override
            for s in await self.directory.overrides.listed(override.rotation, override.start)
            if s.id != stored.id
        ]
        rotation = self.directory.oncall.rotation(override.rotation)
        return await self.directory.user_id(on_call(rotation, others, override.start).user)
