"""``vlkd review add-reviewer`` / ``revoke-reviewer`` / ``reviewers``: the review team of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.commands.review import review_app

RunDirArg = Annotated[
    Path, typer.Argument(help="The run directory (runs/<recipe name>).", show_default=False)
]


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@review_app.command("add-reviewer")
def add_reviewer(
    run_dir: RunDirArg,
    name: Annotated[str, typer.Argument(help="The reviewer's name, recorded with each decision.")],
    role: Annotated[
        str, typer.Option(help="reviewer (their own queue) or lead (everything, settles).")
    ] = "reviewer",
    url: Annotated[
        str, typer.Option(help="The address the review server is reached at, for the link.")
    ] = "http://127.0.0.1:8765/",
) -> None:
    """Add a reviewer with a key of their own and print their link (shown once; only a hash is kept).

    Giving an existing reviewer a new link revokes their old one.
    """
    from vlkd.api import VlkdError
    from vlkd.plugins.review.team.admin import add_reviewer as add
    from vlkd.plugins.review.team.roster import ROLES, link

    if role not in ROLES:
        raise VlkdError(f"--role {role}: use one of {', '.join(ROLES)}")
    key, had = add(run_dir, name, role)
    _console().print(
        f"{name} ({role}): {link(url, key)}\n"
        + ("their previous link no longer works. " if had else "")
        + "Send this link to them only; it is shown once (the run keeps a hash of the key). "
        "It works once `vlkd review serve` runs at that address.",
        markup=False,
    )


@review_app.command("revoke-reviewer")
def revoke_reviewer(
    run_dir: RunDirArg,
    name: Annotated[str, typer.Argument(help="The reviewer whose key stops working.")],
) -> None:
    """Revoke a reviewer's key at once (a running server refuses it from the next request); their
    decisions are kept."""
    from vlkd.plugins.review.team.admin import revoke

    revoke(run_dir, name)
    _console().print(f"{name}: key revoked; their decisions are kept.", markup=False)


@review_app.command("reviewers")
def reviewers(run_dir: RunDirArg) -> None:
    """List the run's reviewers, their roles, and the team's settings."""
    from vlkd.plugins.review.team.admin import load_or_new

    team = load_or_new(run_dir)
    s = team.settings
    lines = [f"overlap {s.overlap}, overlap_share {s.overlap_share:g}, blind {str(s.blind).lower()}"]
    for r in team.reviewers.values():
        lines.append(f"  {r.name:<20} {r.role:<9} {'revoked ' + r.revoked if r.revoked else 'active'}")
    if not team.reviewers:
        lines.append("  no reviewers: the page needs no key on 127.0.0.1 (vlkd review add-reviewer adds one)")
    _console().print("\n".join(lines), markup=False)
