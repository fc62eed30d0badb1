"""Slack listeners, the JSON API views and the use-case flows behind them."""

from slack_bolt.async_app import AsyncApp

from handlers import commands, events, interactions, middleware
from handlers.api import SERVICES
from handlers.api import routes as api_routes
from handlers.flows import Clock, Services
from handlers.paging import Pager
from handlers.slack import SlackGateway, build_client


def register(app: AsyncApp, services: Services, pager: Pager | None = None) -> None:
    """Register every middleware and listener on `app`."""
    middleware.register(app, services)
    commands.register(app, services, pager)
    interactions.register(app, services)
    events.register(app, services)


__all__ = ["SERVICES", "Clock", "Pager", "Services", "SlackGateway", "api_routes", "build_client", "register"]
