"""What the bot needs from Redis: persistence on (AOF) and no eviction. Read at start, warned about if not."""

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from storage.replies import text


async def durability_problems(redis: "Redis") -> list[str]:
    """What in the server's configuration could lose the bot's keys; empty when there is nothing to fear."""
    try:
        appendonly = await _config(redis, "appendonly")
        policy = await _config(redis, "maxmemory-policy")
    except ResponseError as error:  # managed servers often refuse CONFIG
        return [f"cannot read the Redis configuration ({error}); make sure appendonly is yes and nothing is evicted"]
    problems = []
    if appendonly != "yes":
        problems.append("appendonly is off: a restart loses what the last snapshot missed (set appendonly yes)")
    if policy != "noeviction":
        problems.append(f"maxmemory-policy is {policy}: keys can be evicted (set maxmemory-policy noeviction)")
    return problems


async def _config(redis: "Redis", name: str) -> str:
    reply: dict[bytes | str, bytes | str] = await redis.config_get(name)  # type: ignore[assignment]
    values = {text(key): text(value) for key, value in reply.items()}
    return values.get(name, "")
