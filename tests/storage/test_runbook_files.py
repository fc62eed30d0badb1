"""Loading runbooks/*.md from disk."""

from pathlib import Path

import pytest

from domain.runbooks import InvalidRunbook
from storage.runbook_files import load_runbooks, runbook_problems

SHIPPED = Path(__file__).resolve().parents[2] / "runbooks"


def test_shipped_runbooks_cover_the_fixture_alerts() -> None:
    """The three shipped runbooks parse and cover the alerts of the real Alertmanager fixtures."""
    books = load_runbooks(SHIPPED)
    assert len(books.names()) == 3
    for alertname in ["CheckoutHighErrorRate", "NodeDiskSpaceLow", "PostgresReplicationLag"]:
        assert books.find(alertname, {}) is not None, alertname


def test_missing_directory_has_no_runbooks(tmp_path: Path) -> None:
    """A missing runbooks directory means no runbooks, not an error."""
    assert load_runbooks(tmp_path / "nope").names() == []


def test_bad_file_is_named(tmp_path: Path) -> None:
    """A malformed runbook stops loading with its name in the message."""
    (tmp_path / "good.md").write_text("---\nalertnames: [A]\n---\nok")
    (tmp_path / "broken.md").write_text("no front matter")
    with pytest.raises(InvalidRunbook, match="runbook broken"):
        load_runbooks(tmp_path)


def test_problems_names_every_bad_file(tmp_path: Path) -> None:
    """`runbook_problems` names each unusable runbook, not only the first; good ones are not mentioned."""
    (tmp_path / "good.md").write_text("---\nalertnames: [A]\n---\nok")
    (tmp_path / "broken.md").write_text("no front matter")
    (tmp_path / "nameless.md").write_text("---\ntitle: T\n---\nbody")
    problems = runbook_problems(tmp_path)
    assert [p.split(":")[0] for p in problems] == ["runbook broken", "runbook nameless"]
