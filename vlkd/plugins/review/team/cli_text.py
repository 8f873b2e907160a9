"""What ``vlkd review serve`` prints about a team: who is in it, and the links of new keys."""

from __future__ import annotations

from vlkd.plugins.review.team.roster import Team, link


def team_lines(team: Team, base_url: str, new_keys: list[tuple[str, str, str]]) -> str:
    s = team.settings
    lines = [
        f"team review: {len(team.active())} reviewer(s), {len(team.active('lead'))} lead(s); overlap {s.overlap} "
        f"on {s.overlap_share:.0%} of the images (riskiest first){', blind' if s.blind else ''}"
    ]
    fresh = {name for name, _, _ in new_keys}
    for name, role, key in new_keys:
        lines.append(f"  {name} ({role}): {link(base_url, key)}")
    for r in team.reviewers.values():
        if r.name in fresh:
            continue
        state = "revoked" if r.revoked else "key given earlier (a new link: vlkd review add-reviewer)"
        lines.append(f"  {r.name} ({r.role}): {state}")
    if new_keys:
        lines.append(
            "Send each link to its reviewer only; it is shown once (the run keeps a hash of each key)."
        )
    return "\n".join(lines)
