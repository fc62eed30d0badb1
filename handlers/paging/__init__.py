"""On-call paging: escalation policies on durable timers, exactly-once page DMs and webhooks, hand-off
notices, the paging subcommands and the acknowledge link."""

import aiohttp

from domain.paging_config import OnCall
from handlers.paging import ack
from handlers.paging.ack import PAGER
from handlers.paging.commands import register
from handlers.paging.delivery import WEBHOOK, PageDelivery
from handlers.paging.directory import OnCallDirectory
from handlers.paging.handoffs import Handoffs
from handlers.paging.links import AckLinks
from handlers.paging.overrides import Overrides
from handlers.paging.pager import Pager
from handlers.paging.schedule import LEASE
from handlers.services import Services
from storage.overrides import OverrideStore
from storage.timers import TimerStore


def build_pager(
    services: Services,
    timers: TimerStore,
    overrides: OverrideStore,
    oncall: OnCall,
    http: aiohttp.ClientSession | None = None,
    links: AckLinks | None = None,
) -> Pager:
    """The pager and its parts; `services.pages` must be set (acknowledging an incident stops its pages)."""
    assert services.pages is not None
    directory = OnCallDirectory(oncall, overrides, services.slack, services.clock)
    delivery = PageDelivery(services, directory, http, links)
    services.effects.register(WEBHOOK, delivery.deliver_webhook, delivery.webhook_given_up)
    handoffs = Handoffs(services, directory, timers)
    return Pager(
        services=services,
        pages=services.pages,
        timers=timers,
        directory=directory,
        delivery=delivery,
        handoffs=handoffs,
        overrides=Overrides(services, directory, handoffs),
    )


__all__ = ["LEASE", "PAGER", "AckLinks", "Pager", "ack", "build_pager", "register"]
