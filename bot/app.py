"""The Bolt AsyncApp: built here, listeners registered by `handlers.register`."""

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from handlers import Pager, Services, register


def build_bolt_app(settings: Settings, client: AsyncWebClient, services: Services, pager: Pager | None) -> AsyncApp:
    """An AsyncApp verifying request signatures (HTTP mode) around our listeners."""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AsyncApp(
        client=client,
        signing_secret=secret,
        request_verification_enabled=not settings.socket_mode,
        logger=logging.getLogger("slack_bolt"),
        raise_error_for_unhandled_request=False,
    )
    register(app, services, pager)
    return app
