"""The review team of one run: reviewers (name, role, hashed key), revocations, settings.

Kept in ``RUN_DIR/review-imports/team.json`` (kept by ``--fresh``, like every expert input).
A key is 32 random bytes, shown once (the link printed when it is made) and stored only as
its SHA-256: the run directory never holds a key in clear. A revoked reviewer keeps their
decisions; their key opens nothing any more.

``reviewers.yaml`` (``vlkd review serve RUN --reviewers reviewers.yaml``)::

    overlap: 2            # reviewers per image (of the overlapped share)
    overlap_share: 0.2    # the riskiest 20% of the images are reviewed twice, the rest once
    blind: true           # a reviewer sees the others' decisions only once all have decided
    reviewers:
      - {name: li, role: reviewer}
      - {name: wang, role: reviewer}
      - {name: zhao, role: lead}
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vlkd.api import DECISIONS_DIR, VlkdError, write_json_atomic

TEAM_FILE = "team.json"
ROLES = ("reviewer", "lead")
KEY_PARAM = "key"


class TeamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap: int = Field(1, ge=1, le=10, description="Reviewers per overlapped image")
    overlap_share: float = Field(
        1.0, gt=0, le=1, description="Share of the images (riskiest first) reviewed by `overlap` reviewers"
    )
    blind: bool = Field(False, description="Hide the other reviewers' decisions until all have decided")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\s/\\<>&\"'|]+$")
    role: Literal["reviewer", "lead"] = "reviewer"

    @field_validator("name", mode="before")
    @classmethod
    def _one_look_one_name(cls, value: Any) -> Any:
        return reviewer_name(value) if isinstance(value, str) else value


#: Unicode categories that print as nothing (zero-width, direction marks and overrides, controls)
_INVISIBLE = ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")


def reviewer_name(name: str) -> str:
    """``name`` as one reviewer: NFC (a composed and a decomposed é are one person), with nothing
    invisible that would make two names look alike, and not starting like a spreadsheet formula
    (names reach the sheet, the report and the audit)."""
    import unicodedata

    name = unicodedata.normalize("NFC", name)
    hidden = [c for c in name if unicodedata.category(c) in _INVISIBLE]
    if hidden:
        raise ValueError(
            f"holds an invisible character (U+{ord(hidden[0]):04X}) that makes it look like another name; "
            "type it plainly"
        )
    if name[:1] in ("=", "+", "-", "@"):
        raise ValueError(f"starts with '{name[0]}', as a spreadsheet formula does; start it with a letter")
    return name


class _File(TeamSettings):
    reviewers: list[_Entry] = Field(default_factory=list)


@dataclass
class Reviewer:
    name: str
    role: str
    key_sha256: str
    created: str
    revoked: str | None = None

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def team_path(run_dir: Path) -> Path:
    return Path(run_dir) / DECISIONS_DIR / TEAM_FILE


class Team:
    """The reviewers and settings of one run directory."""

    def __init__(self, run_dir: Path, settings: TeamSettings, reviewers: dict[str, Reviewer]):
        self.run_dir = Path(run_dir)
        self.settings = settings
        self.reviewers = reviewers
        self._stamp: tuple[int, int, int] | None = None

    # -- files ---------------------------------------------------------------------------
    @classmethod
    def load(cls, run_dir: Path) -> Team | None:
        """The run's team, or None when it has none (review without keys, as before)."""
        path = team_path(run_dir)
        try:
            data = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        import json

        try:
            raw = json.loads(data)
            settings = TeamSettings.model_validate(raw.get("settings") or {})
            reviewers = {r["name"]: Reviewer(**r) for r in raw.get("reviewers", [])}
        except (ValueError, TypeError, KeyError, ValidationError) as exc:
            raise VlkdError(f"{path}: not a vlkd team file ({exc}); restore it or delete it") from None
        team = cls(run_dir, settings, reviewers)
        team._stamp = _stamp(path)
        return team

    def save(self) -> None:
        path = team_path(self.run_dir)
        write_json_atomic(
            path,
            {
                "settings": self.settings.model_dump(),
                "reviewers": [asdict(r) for r in self.reviewers.values()],
            },
        )
        os.chmod(path, 0o600)  # hashes only, but nobody else's business either
        self._stamp = _stamp(path)

    def refresh(self) -> None:
        """Read the file again when another process changed it (a key revoked while serving)."""
        path = team_path(self.run_dir)
        if _stamp(path) == self._stamp:
            return
        fresh = Team.load(self.run_dir)
        if fresh is not None:
            self.settings, self.reviewers, self._stamp = fresh.settings, fresh.reviewers, fresh._stamp

    # -- reviewers -----------------------------------------------------------------------
    def add(self, name: str, role: str) -> str:
        """Add ``name`` (or give them a new key, which revokes the old one); return the key."""
        try:
            entry = _Entry(name=name, role=role)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise VlkdError(f"reviewer {_shown(name)}: {_first(exc)}") from None
        key = secrets.token_urlsafe(32)
        self.reviewers[entry.name] = Reviewer(entry.name, entry.role, hash_key(key), _now())
        return key

    def revoke(self, name: str) -> Reviewer:
        import unicodedata

        reviewer = self.reviewers.get(unicodedata.normalize("NFC", name))
        if reviewer is None:
            known = ", ".join(sorted(self.reviewers)) or "none yet"
            raise VlkdError(f"no reviewer '{name}' in this run (reviewers: {known})")
        reviewer.revoked = reviewer.revoked or _now()
        return reviewer

    def lookup(self, key: str | None) -> Reviewer | None:
        """The reviewer this key belongs to, revoked or not; None for an unknown key."""
        if not key:
            return None
        digest = hash_key(key)
        found = None
        for reviewer in self.reviewers.values():  # compare all, in constant time each
            if hmac.compare_digest(reviewer.key_sha256, digest):
                found = reviewer
        return found

    def find(self, key: str | None) -> Reviewer | None:
        """The active reviewer this key belongs to, or None (unknown or revoked)."""
        found = self.lookup(key)
        return found if found is not None and not found.revoked else None

    def active(self, role: str = "reviewer") -> list[str]:
        return sorted(r.name for r in self.reviewers.values() if r.role == role and not r.revoked)

    def summary(self) -> dict[str, Any]:
        return {
            "settings": self.settings.model_dump(),
            "reviewers": [
                {"name": r.name, "role": r.role, "revoked": bool(r.revoked)} for r in self.reviewers.values()
            ],
        }


def read_reviewers_file(path: Path) -> tuple[TeamSettings, list[tuple[str, str]]]:
    """Settings and (name, role) of ``reviewers.yaml``; an error names file:line:col."""
    from vlkd.api import RecipeError, load_yaml_file, nearest_location

    try:
        data, positions = load_yaml_file(Path(path))
    except RecipeError as exc:
        raise VlkdError(str(exc)) from None
    try:
        parsed = _File.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = nearest_location(positions, tuple(err["loc"])) or path
            where = ".".join(str(x) for x in err["loc"]) or "file"
            problems.append(f"{loc}: {where}: {err['msg']}")
        raise VlkdError("\n".join(problems)) from None
    names = [r.name for r in parsed.reviewers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise VlkdError(f"{path}: reviewer '{twice[0]}' is listed twice; give each reviewer one line")
    settings = TeamSettings(**parsed.model_dump(exclude={"reviewers"}))
    return settings, [(r.name, r.role) for r in parsed.reviewers]


def check_settings(team: Team, source: str) -> None:
    """An overlap that the active reviewers cannot give is an error naming where it was set."""
    reviewers = team.active()
    overlap = team.settings.overlap
    if overlap > 1 and len(reviewers) < overlap:
        raise VlkdError(
            f"{source}: overlap {overlap} needs at least {overlap} active reviewers with role reviewer "
            f"(has {len(reviewers)}: {', '.join(reviewers) or 'none'}); add reviewers or lower overlap"
        )


def link(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/?{KEY_PARAM}={key}"


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(x) for x in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"


def _shown(name: str) -> str:
    """A name quoted for a message, its invisible characters as escapes (never reordering the line)."""
    import unicodedata

    return (
        "'" + "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in _INVISIBLE else c for c in name) + "'"
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)  # written by replace: a new inode
