"""The on-call configuration: the example loads; every error names the file, the key and the problem."""

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain import InvalidValue, Severity
from domain.paging_config import ConfigError, load_config
from storage.paging_config_file import read_oncall

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE: dict[str, Any] = yaml.safe_load((ROOT / "oncall.example.yaml").read_text())


def test_example_loads() -> None:
    """The shipped example is valid and means what it says."""
    config = read_oncall(ROOT / "oncall.example.yaml")
    assert sorted(config.rotations) == ["platform-primary", "platform-secondary"]
    assert config.policies["platform"].repeat == 2
    assert len(config.policies["platform"].steps) == 2
    assert config.service_policies["checkout"] == "payments"
    assert config.page_on_declare == {Severity.SEV1, Severity.SEV2}


def test_policy_for_a_service_falls_back_to_the_default_and_unknown_rotations_are_named() -> None:
    config = read_oncall(ROOT / "oncall.example.yaml")
    policies = [config.policy_for(service) for service in ("checkout", "search", None)]
    assert [policy.name if policy else None for policy in policies] == ["payments", "platform", "platform"]
    assert config.rotation("platform-primary").name == "platform-primary"
    with pytest.raises(InvalidValue, match=r"no rotation `nope`\. Rotations: platform-primary, platform-secondary"):
        config.rotation("nope")


def broken(path: str, value: object) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("rotations.platform-primary.shift", "1y", "rotations.platform-primary.shift: `1y` is not a duration"),
        ("rotations.platform-primary.members", [], "rotations.platform-primary.members: List should have at least 1"),
        (
            "rotations.platform-primary.members",
            ["bob"],
            "members.0: `bob` is neither a Slack user ID (U… or W…) nor an email",
        ),
        ("rotations.platform-primary.timezone", "Mars/Olympus", "timezone: `Mars/Olympus` is not a timezone"),
        ("rotations.platform-primary.handoff", "monday", "rotations.platform-primary.handoff: Input should be"),
        ("rotations.platform-primary.handoff", "2026-01-05T09:00+01:00", "handoff: write the handoff as a local time"),
        ("rotations.platform-primary.colour", "red", "rotations.platform-primary.colour: Extra inputs"),
        ("escalation_policies.platform.steps.0.ack_timeout", "soon", "steps.0.ack_timeout: `soon` is not a duration"),
        ("escalation_policies.platform.steps.0.targets", ["team:x"], "targets.0: `team:x` is not a page target"),
        ("escalation_policies.platform.steps.0.targets", ["rotation:nope"], "no rotation `nope`"),
        ("escalation_policies.platform.repeat", -1, "escalation_policies.platform.repeat: Input should be greater"),
        ("services.checkout.escalation_policy", "nope", "services.checkout.escalation_policy: no policy `nope`"),
        ("default_escalation_policy", "nope", "default_escalation_policy: no policy `nope`"),
        ("page_on_declare", [5], "page_on_declare.0: Input should be less than or equal to 4"),
        ("timezone", "Nowhere", "timezone: `Nowhere` is not a timezone"),
        ("rotations.platform-primary.notify_webhook", "sms.example", "notify_webhook: `sms.example` is not an http"),
        ("users", {"U0AAA": {"notify_webhook": "ftp://x"}}, "users.U0AAA.notify_webhook: `ftp://x` is not an http"),
    ],
)
def test_errors_name_file_key_and_problem(path: str, value: object, message: str) -> None:
    """Each broken value is reported as `file: key.path: problem`."""
    with pytest.raises(ConfigError) as refused:
        load_config(broken(path, value), "oncall.yaml")
    assert any(line.startswith("oncall.yaml: ") and message in line for line in refused.value.errors), refused.value


def test_all_errors_are_collected() -> None:
    """Several problems are all reported at once."""
    data = broken("rotations.platform-primary.shift", "1y")
    data["rotations"]["platform-secondary"]["members"] = ["bob"]
    data["surprise"] = True
    with pytest.raises(ConfigError) as refused:
        load_config(data, "oncall.yaml")
    assert len(refused.value.errors) == 3


def test_names_that_name_nothing_are_reported_beside_field_errors() -> None:
    """A bad field does not hide a dangling rotation or policy name: each is its own line."""
    data = broken("rotations.platform-primary.shift", "1y")
    data["default_escalation_policy"] = "nobody"
    data["services"] = {"checkout": {"escalation_policy": "missing"}}
    with pytest.raises(ConfigError) as refused:
        load_config(data, "oncall.yaml")
    lines = refused.value.errors
    assert any("rotations.platform-primary.shift" in line for line in lines)
    assert "oncall.yaml: default_escalation_policy: no policy `nobody`" in lines
    assert "oncall.yaml: services.checkout.escalation_policy: no policy `missing`" in lines


@pytest.mark.parametrize(
    ("key", "value"),
    [("default_escalation_policy", {"a": 1}), ("services", {"checkout": {"escalation_policy": ["a", "b"]}})],
)
def test_a_policy_name_of_the_wrong_type_is_a_problem_not_a_crash(key: str, value: object) -> None:
    """A list or a mapping where a policy name belongs is reported like any wrong type."""
    data = broken("rotations.platform-primary.shift", "1w")
    data[key] = value
    with pytest.raises(ConfigError) as refused:
        load_config(data, "oncall.yaml")
    assert any("escalation_policy" in line for line in refused.value.errors)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    """A missing file and bad YAML are errors naming the file (and the line)."""
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read it"):
        read_oncall(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rotations:\n  x: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+: not valid YAML"):
        read_oncall(bad)


def _check_config(env: dict[str, str], cwd: Path, command: str = "check-config") -> subprocess.CompletedProcess[str]:
    """`firebreak check-config` (or another command) in its own process with exactly `env`."""
    code = f"from bot.cli import main; raise SystemExit(main([{command!r}]))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("config", "code", "output"),
    [
        ("oncall.example.yaml", 0, "configuration is valid (paging per"),
        ("broken", 2, "rotations.x.shift: `1y` is not a duration"),
        ("missing.yaml", 2, "missing.yaml: cannot read it"),
    ],
)
def test_check_config_command(tmp_path: Path, config: str, code: int, output: str) -> None:
    """`firebreak check-config` exits 0 for a good config and 2 with the errors for a bad one."""
    path = ROOT / config if config == "oncall.example.yaml" else tmp_path / config
    if config == "broken":
        path.write_text('rotations:\n  x:\n    members: [U1AAA]\n    shift: 1y\n    handoff: "2026-01-05T09:00"\n')
    env = {"PATH": "/usr/bin:/bin", "ONCALL_CONFIG": str(path), "PYTHONPATH": str(ROOT)}
    result = _check_config(env, tmp_path)
    assert result.returncode == code
    assert output in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_check_config_reports_every_error_at_once(tmp_path: Path, command: str) -> None:
    """Bad settings, a bad on-call file and a bad runbook: `firebreak check-config` prints each problem, exit 2;
    `firebreak run` refuses to start the same way."""
    oncall = tmp_path / "oncall.yaml"
    oncall.write_text(
        "rotations:\n  x:\n    members: [nobody]\n    shift: 1y\n    handoff: '2026-01-05T09:00'\n"
        "default_escalation_policy: missing\n"
    )
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "broken.md").write_text("no front matter")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "ONCALL_CONFIG": str(oncall),
        "RUNBOOKS_DIR": str(runbooks),
        "PORT": "70000",
        "BUSINESS_TIMEZONE": "Mars/Olympus",
        "RESPONSE_TARGET_SEV1": "soon",
    }
    result = _check_config(env, tmp_path, command)
    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert [line for line in lines if not line.startswith("firebreak: ")] == []
    expected = [
        "invalid setting PORT:",
        "invalid setting BUSINESS_TIMEZONE:",
        "invalid setting RESPONSE_TARGET_SEV1:",
        f"{oncall}: rotations.x.members.0: `nobody` is neither a Slack user ID",
        f"{oncall}: rotations.x.shift: `1y` is not a duration",
        f"{oncall}: default_escalation_policy: no policy `missing`",
        "runbook broken: it must start with a `---` front matter block",
    ]
    assert [any(part in line for line in lines) for part in expected] == [True] * len(expected), lines
    assert len(lines) == len(expected)
