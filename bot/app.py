"""The Bolt AsyncApp: built here, with every capability's listeners and the command router wired in."""

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from handlers import Services, alerts, incidents, metrics, paging, postmortems
from handlers.command import CommandRouter
from handlers.metrics import Metrics
from handlers.paging import Pager
from handlers.slack import middleware


def build_bolt_app(
    settings: Settings,
    client: AsyncWebClient,
    services: Services,
    pager: Pager | None,
    pms: postmortems.Postmortems,
    reminders: postmortems.Reminders,
    capability: Metrics,
    router: CommandRouter | None = None,
) -> AsyncApp:
    """An AsyncApp around our listeners. Signature verification is always on: Bolt skips it only for Socket Mode
    requests, which arrive over the WebSocket (the HTTP route does not exist then).

    Listeners run before the response (`process_before_response`): each one decides, acknowledges and hands
    its Slack follow-up to the outbox, so the reply goes out as soon as the listener returns. (Bolt's other
    mode runs each listener as a task and polls for its acknowledgement every 10 ms, which under load eats
    the CPU.) `router`: the slash command's, when the caller also runs it without Bolt (`DirectCommand`)."""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = AsyncApp(
        client=client,
        signing_secret=secret,
        request_verification_enabled=True,
        logger=logging.getLogger("slack_bolt"),
        raise_error_for_unhandled_request=False,
        process_before_response=True,
    )
    middleware.register(app, services.seen)
    router = router or CommandRouter(settings.incident_command, services.outbox)
    postmortems.register(app, router, pms, reminders)  # before incidents: its 📝 listener precedes 📌 capture
    incidents.register(app, router, services)
    alerts.register(app, router, services)
    paging.register(app, router, services, pager)
    metrics.register(app, router, capability)
    router.register(app)
    middleware.register_fallbacks(app)  # last: it answers what no capability registered
    return app
