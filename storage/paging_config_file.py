"""Read the on-call YAML file (sync: at startup and in `firebreak check-config`)."""

from pathlib import Path

import yaml

from domain.paging_config import ConfigError, OnCall, load_config


def read_oncall(path: Path) -> OnCall:
    """Parse and validate the file; a missing file or bad YAML is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read it ({error.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{path}:{where}: not valid YAML ({getattr(error, 'problem', error)})"]) from None
    return load_config(data, str(path))
