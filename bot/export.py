"""`firebreak postmortem export <number> [--format md|json]`: print a postmortem as the API serves it."""

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.embedded_redis import EmbeddedRedis
from bot.settings import Settings
from domain import IncidentError
from handlers import Services
from handlers.postmortems import FAMILY, Postmortems, api
from handlers.slack import SlackGateway, SlackOutbox, build_client
from handlers.slack.effects import EffectQueue
from storage import IncidentStore, Keys, SeenStore, TimelineStore, create_engine
from storage.alerts import AlertStore
from storage.effects import EffectStore
from storage.postmortems import PostmortemStore
from storage.timers import TimerStore

EXIT_NOT_FOUND = 1


def postmortem_command(settings: Settings, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="firebreak postmortem", description="Postmortems")
    parser.add_argument("action", choices=["export"])
    parser.add_argument("number", type=int)
    parser.add_argument("--format", choices=["md", "json"], default="md")
    args = parser.parse_args(argv)
    return asyncio.run(_export(settings, args.number, args.format))


async def _export(settings: Settings, number: int, form: str) -> int:
    embedded = EmbeddedRedis(Path(settings.data_dir)) if settings.redis_url is None else None
    redis_url = await asyncio.to_thread(embedded.start) if embedded else str(settings.redis_url)
    redis, engine = Redis.from_url(redis_url), create_engine(settings.database_url)
    try:
        body, markdown = await api.read(_postmortems(settings, redis, engine), number)
    except IncidentError as error:
        print(f"firebreak: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    finally:
        await redis.aclose()
        await engine.dispose()
        if embedded:
            await asyncio.to_thread(embedded.stop)
    if form == "md":
        print(markdown, end="")
    else:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0


def _postmortems(settings: Settings, redis: Redis, engine: AsyncEngine) -> Postmortems:
    """The stores a read needs; the Slack gateway is there only because Services carries one (never called)."""
    keys = Keys(settings.redis_prefix)
    outbox = SlackOutbox(settings.card_update_interval, settings.card_updates_per_minute)
    services = Services(
        incidents=IncidentStore(engine),
        timeline=TimelineStore(redis, keys),
        seen=SeenStore(redis, keys),
        slack=SlackGateway(build_client("", settings.slack_api_url)),
        clock=_now,
        alerts=AlertStore(redis, keys),
        outbox=outbox,
        effects=EffectQueue(EffectStore(engine), outbox, _now),
        targets=settings.response_targets,
        command=settings.incident_command,
    )
    return Postmortems(services, PostmortemStore(engine), TimerStore(redis, keys, FAMILY), settings.postmortem_policy)


def _now() -> datetime:
    return datetime.now(UTC)
