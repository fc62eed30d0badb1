"""Who is on call: rotations with their overrides, and config names (IDs or emails) turned into Slack users."""

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog
from slack_sdk.errors import SlackApiError

from domain.escalation import Target, TargetKind
from domain.paging_config import OnCall
from domain.rotation import Shift, upcoming
from handlers.services import Clock
from handlers.slack import SlackGateway, describe_failure
from storage.overrides import OverrideStore

log = structlog.get_logger()


@dataclass(frozen=True)
class Person:
    """Someone to page, with the notification webhook that applies to them (theirs, else their rotation's)."""

    user: str
    webhook: str | None


Found = tuple[list[Person], list[str]]  # the people some targets name, and the config names that name nobody


@dataclass
class OnCallDirectory:
    oncall: OnCall
    overrides: OverrideStore
    slack: SlackGateway
    clock: Clock
    _emails: dict[str, str | None] = field(default_factory=dict, repr=False)
    _lookups: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)  # pages fired at once look up once

    async def shifts(self, rotation: str, at: datetime, count: int = 2) -> list[Shift]:
        """Who is on call for `rotation` at `at`, and who comes next (overrides included)."""
        known = self.oncall.rotation(rotation)  # InvalidValue if there is no such rotation
        return upcoming(known, await self.overrides.ending_after(rotation, at), at, count)

    async def people(self, targets: tuple[Target, ...]) -> Found:
        """The people `targets` name now, each once, and the config names that name nobody in Slack."""
        people: dict[str, str | None] = {}
        unknown: list[str] = []
        for target in targets:
            named = target.name if target.kind is TargetKind.USER else None
            if target.kind is TargetKind.ROTATION and target.name in self.oncall.rotations:
                named = (await self.shifts(target.name, self.clock(), count=1))[0].user
            user = await self.user_id(named) if named else None
            if named and user is None:
                unknown.append(named)
            elif user and user not in people:
                people[user] = self._webhook(user, named or user, target)
        return [Person(user, webhook) for user, webhook in people.items()], unknown

    async def shown(self, shifts: list[Shift]) -> list[Shift]:
        """Shifts with each member as a Slack user ID where an email names one (emails stay as they are if not)."""
        return [replace(shift, user=await self.user_id(shift.user) or shift.user) for shift in shifts]

    def _webhook(self, user: str, named: str, target: Target) -> str | None:
        webhooks = self.oncall.webhooks
        rotation = webhooks.get(str(target)) if target.kind is TargetKind.ROTATION else None
        return webhooks.get(f"user:{user}") or webhooks.get(f"user:{named}") or rotation

    async def user_id(self, name: str) -> str | None:
        """The Slack user ID of a config name: an ID as it is, an email looked up in Slack (once)."""
        if "@" not in name:
            return name
        email = name
        async with self._lookups:
            if email not in self._emails:
                try:
                    self._emails[email] = await self.slack.find_user(email)
                except SlackApiError as error:
                    log.warning("user_lookup_failed", email=email, failure=describe_failure(error))
                    return None
        user = self._emails[email]
        if user is None:
            log.warning("page_target_unknown", email=email)
        return user
