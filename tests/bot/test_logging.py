"""The log stream: our lines and the stdlib's (Bolt, aiohttp, alembic) come out alike, one JSON object a line on
stdout, filtered by the one LOG_LEVEL."""

import json
import subprocess
import sys

_SCRIPT = """
import logging, sys
import structlog
from bot.logging import configure_logging
from bot.settings import Settings
configure_logging(Settings(_env_file=None, log_level=sys.argv[1]))
structlog.get_logger().info("ours_info", group_key="g")
structlog.get_logger().warning("ours_warning")
logging.getLogger("aiohttp.server").info("theirs %s", "info")
logging.getLogger("slack_bolt.App").warning("theirs %s", "warning")
"""


def _lines(level: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, level], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stderr == ""
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_ours_and_the_stdlibs_lines_are_json_alike_in_order() -> None:
    lines = _lines("info")
    assert [line["event"] for line in lines] == ["ours_info", "ours_warning", "theirs info", "theirs warning"]
    assert [line["level"] for line in lines] == ["info", "warning", "info", "warning"]
    assert all(str(line["timestamp"]).endswith("Z") for line in lines)
    assert lines[0]["group_key"] == "g"
    assert [line.get("logger") for line in lines[2:]] == ["aiohttp.server", "slack_bolt.App"]


def test_the_level_filters_both() -> None:
    assert [line["event"] for line in _lines("warning")] == ["ours_warning", "theirs warning"]
