"""Bot processes for the tests: `python -m bot` on a free loopback port, as in production (the fault tests
kill them with SIGKILL)."""

import asyncio
import contextlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

ROOT = Path(__file__).resolve().parents[1]  # the repository


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    url: str
    log: IO[bytes]

    async def kill(self) -> None:
        """`kill -9`: no shutdown, no cleanup, whatever was in flight is cut off."""
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.log.close()


async def start_process(env: dict[str, str], workdir: Path, name: str, port: int | None = None) -> BotProcess:
    """Start a bot with these settings (beside PATH and PYTHONPATH), on `port` (default: a free one), and wait
    until it is ready."""
    port = port or free_port()
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "HOST": "127.0.0.1"}
    log = (workdir / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=workdir, env=base | env | {"PORT": str(port)}, stdout=log, stderr=log
    )
    bot = BotProcess(process, f"http://127.0.0.1:{port}", log)
    async with aiohttp.ClientSession() as session:
        for _ in range(150):  # bounded: 30 s
            if process.returncode is not None:
                break  # it exited at start: no use waiting
            try:
                async with session.get(f"{bot.url}/readyz") as response:
                    if response.status == 200:
                        return bot
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    await bot.stop()
    raise AssertionError(f"{name} never became ready (exit code {process.returncode}): see {workdir / (name + '.log')}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def holds_listener(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds a socket listening on loopback `port` (/proc/net/tcp's listeners
    matched to its descriptors): with several processes on one port, an answer proves nothing about which."""
    listeners = {
        fields[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port
    }
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed since it was listed
            held.add(os.readlink(fd).removeprefix("socket:[").removesuffix("]"))
    return bool(listeners & held)
