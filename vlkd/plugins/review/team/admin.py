"""What the team commands do to a run: read ``reviewers.yaml``, add a reviewer, revoke a key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from vlkd.api import VlkdError
from vlkd.plugins.review.team.roster import Team, TeamSettings, check_settings, read_reviewers_file


def _run_dir(run_dir: Path) -> Path:
    from vlkd.api import RunDir

    if RunDir(run_dir).read_manifest() is None:
        raise VlkdError(
            f"{run_dir}: not a vlkd run directory (no manifest.json); run the recipe up to review"
        )
    return Path(run_dir)


def load_or_new(run_dir: Path) -> Team:
    run_dir = _run_dir(run_dir)
    return Team.load(run_dir) or Team(run_dir, TeamSettings(), {})


def apply_reviewers_file(run_dir: Path, file: Path) -> list[tuple[str, str, str]]:
    """Take the settings and reviewers of ``file`` into the run's team; (name, role, key) of every
    reviewer who got a key now. Reviewers listed before keep their keys; a changed role is taken."""
    settings, entries = read_reviewers_file(file)
    team = load_or_new(run_dir)
    team.settings = settings
    new = []
    for name, role in entries:
        known = team.reviewers.get(name)
        if known is None:
            new.append((name, role, team.add(name, role)))
        else:
            known.role = role
    check_settings(team, str(file))
    team.save()
    return new


def add_reviewer(run_dir: Path, name: str, role: str) -> tuple[str, bool]:
    """(the reviewer's new key, whether they had one before: it no longer opens anything)."""
    team = load_or_new(run_dir)
    had = name in team.reviewers
    key = team.add(name, role)
    team.save()
    return key, had


def revoke(run_dir: Path, name: str) -> None:
    team = Team.load(_run_dir(run_dir))
    if team is None:
        raise VlkdError(f"{run_dir}: this run has no reviewers (vlkd review add-reviewer adds one)")
    team.revoke(name)
    team.save()


@contextlib.contextmanager
def restored_on_failure(run_dir: Path) -> Iterator[None]:
    """Put the team file back as it was when the block fails (a server that could not start must
    not keep keys that were never shown to anyone)."""
    from vlkd.plugins.review.team.roster import team_path

    path = team_path(run_dir)
    before = path.read_bytes() if path.is_file() else None
    try:
        yield
    except BaseException:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)
        raise
