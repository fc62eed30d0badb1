"""Hand-off notices: the person whose shift starts gets one DM, on a durable timer per rotation."""

from dataclasses import dataclass

import structlog
from slack_sdk.errors import SlackApiError

from handlers.paging import messages
from handlers.paging.directory import OnCallDirectory
from handlers.paging.schedule import TimerBody
from handlers.services import Services
from handlers.slack import describe_failure
from storage.timers import Timer, TimerStore

log = structlog.get_logger()


def timer_id(rotation: str) -> str:
    return f"handoff:{rotation}"


@dataclass(frozen=True)
class Handoffs:
    services: Services
    directory: OnCallDirectory
    timers: TimerStore

    async def schedule_all(self) -> None:
        """Arm each rotation's next hand-off notice (idempotent: every process may call it at start)."""
        for name in self.directory.oncall.rotations:
            await self.arm(name)

    async def arm(self, rotation: str) -> None:
        following = (await self.directory.shifts(rotation, self.services.clock(), count=2))[1]
        await self.timers.schedule(timer_id(rotation), following.start, TimerBody.handoff(rotation).dump())

    async def fire(self, timer: Timer, body: TimerBody) -> None:
        """DM the person whose shift starts now, once, and arm the next notice."""
        name = body.rotation
        if name in self.directory.oncall.rotations:
            shift = (await self.directory.shifts(name, self.services.clock(), count=1))[0]
            user = await self.directory.user_id(shift.user)
            if user and await self.services.seen.first_time("handoff", f"{name}:{shift.start.isoformat()}"):
                try:
                    dm = await self.services.slack.open_dm(user)
                    await self.services.slack.post(dm, messages.handoff_text(name, shift.end))
                except SlackApiError as error:
                    log.warning("handoff_notice_failed", failure=describe_failure(error))
                log.info("handoff_notified", rotation=name, user=user)
            await self.timers.schedule(timer.id, shift.end, TimerBody.handoff(name).dump())
        await self.timers.complete(timer.id)
