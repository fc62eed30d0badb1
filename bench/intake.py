"""Alert intake alone: the bot's webhook beside the bare XADD handler, both up at once, in interleaved rounds.

    python -m bench.intake [--alerts 6000] [--groups 100] [--senders 50] [--rounds 4] [--profile FILE]

The bot runs as `python -m bot` with PROCESS_ROLE=web (nothing processes the queued notifications, so only
intake is timed), the anchor as `bench.anchor_xadd`, each in a process of its own; this process sends the
same storm as `bench.alert_storm` to each in turn, round after round (each round's groups are new, so
nothing is a repeat). Besides throughput, each server's CPU time per notification is read from /proc: on a
machine whose load moves between rounds, the ratio of CPU per notification is the steadier figure (it is the
throughput ratio the two would reach on a core each had to itself). `--profile FILE` samples the bot with
py-spy (raw collapsed stacks; `pip install py-spy`, it is not a dependency).
"""

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.alert_storm import TOKEN, notifications, storm
from bench.slash_load import REDIS_URL, bot_env, cpu_seconds, database_url, forget, free_port, served, served_pid
from sandbox.slack_api import SlackEmulator


@dataclass(frozen=True)
class Round:
    rate: float  # notifications a second
    cpu: float  # the server's CPU seconds per notification

    def __str__(self) -> str:
        return f"{self.rate:7.0f}/s  {self.cpu * 1e6:6.0f} us CPU each"


async def measure(url: str, pid: int, bodies: list[bytes], senders: int) -> Round:
    before = cpu_seconds(pid)
    run, _ = await storm(url, bodies, senders)
    if set(run.statuses) != {200}:
        raise SystemExit(f"{url} answered {dict(run.statuses)}")
    return Round(run.rate, (cpu_seconds(pid) - before) / len(bodies))


def renamed(bodies: list[bytes], round_: int) -> list[bytes]:
    """The same storm in groups no earlier round used."""
    return [body.replace(b"Storm", f"R{round_}Storm".encode()) for body in bodies]


async def bench(alerts: int, groups: int, senders: int, rounds: int, profile: Path | None) -> None:
    bodies = notifications(alerts, groups)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        async with SlackEmulator() as slack, database_url("sqlite", workdir) as database:
            env = bot_env(slack.url, database, 0, workdir) | {"ALERTMANAGER_TOKEN": TOKEN, "PROCESS_ROLE": "web"}
            bot_port, bare_port = free_port(), free_port()
            anchor = [
                sys.executable,
                "-m",
                "bench.anchor_xadd",
                str(bare_port),
                REDIS_URL,
                f"{env['REDIS_PREFIX']}bare",
            ]
            bot_args = [sys.executable, "-m", "bot"]
            if profile is not None:
                bot_args = ["py-spy", "record", "--rate", "250", "--format", "raw", "-o", str(profile), "--", *bot_args]
            async with contextlib.AsyncExitStack() as stack:
                bot_base, bot = await stack.enter_async_context(
                    served(bot_args, env | {"PORT": str(bot_port)}, bot_port, workdir / "bot.log")
                )
                bare_base, bare = await stack.enter_async_context(served(anchor, env, bare_port, workdir / "bare.log"))
                print(f"intake: {len(bodies)} notifications ({alerts} alerts in {groups} groups), {senders} senders")
                ratios, cpu_ratios = [], []
                for n in range(rounds):
                    targets = [("firebreak", bot_base, served_pid(bot)), ("bare XADD", bare_base, bare.pid)]
                    results = {}
                    for name, base, pid in targets if n % 2 == 0 else targets[::-1]:
                        results[name] = await measure(f"{base}/webhooks/alertmanager", pid, renamed(bodies, n), senders)
                    ours, theirs = results["firebreak"], results["bare XADD"]
                    ratios.append(ours.rate / theirs.rate)
                    cpu_ratios.append(theirs.cpu / ours.cpu)
                    print(f"round {n + 1}: firebreak {ours}   bare XADD {theirs}   ratio {ratios[-1]:.2f} x")
        await forget(env["REDIS_PREFIX"])
    print(
        f"median: throughput {statistics.median(ratios):.2f} x the bare handler's, "
        f"CPU per notification {statistics.median(cpu_ratios):.2f} x (bare / firebreak)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=6000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", metavar="FILE", type=Path, help="sample the bot with py-spy into FILE")
    args = parser.parse_args()
    profile = args.profile.absolute() if args.profile else None
    asyncio.run(bench(args.alerts, args.groups, args.senders, args.rounds, profile))


if __name__ == "__main__":
    main()
