"""The alert capability's Slack effects: the message of each below-threshold group in the alerts channel."""

from handlers.alerts import flows
from handlers.services import Services
from storage.effects import QueuedEffect


def register(services: Services) -> None:
    """Teach the effect queue this capability's kinds (its notices are the incident capability's posts)."""

    async def perform_group(effect: QueuedEffect) -> None:
        await flows.render_group(services, str(effect.body["group"]))

    services.effects.register(flows.GROUP_KIND, perform_group)
