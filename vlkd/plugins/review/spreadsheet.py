"""Expert review through a spreadsheet or the review page: export, apply the experts' edits.

Every run writes into the review stage directory:

- ``review.csv`` and ``review.xlsx``: one row per pair (see :mod:`.sheet` for the columns)
  for experts to correct, approve, reject, or add pairs to;
- ``all_pairs.jsonl``: every pair with its review status (rejected ones included);
- ``pairs.jsonl``: the pairs that go on to split and format: not rejected, and with
  ``require_approval: true`` only approved or edited ones;
- ``audit.jsonl``: one line per change, with the values before and after, the file and row
  or the reviewer and time;
- ``exports.json``: the hash of each sheet as written and how much of the review log was
  applied, so that the next run notices a sheet edited in place and new decisions.

Experts' work comes back by three ways, all applied by the next ``vlkd run`` with no other
step: decisions in ``vlkd review serve RUN_DIR`` (the review log), the sheet edited in place
(imported as ``vlkd review import`` would: same validation and audit; refused, naming the
file and keeping it untouched, when a row is invalid), or ``vlkd review import RUN_DIR FILE``.
When nothing can go on yet the stage is ``waiting`` (not failed) and says what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vlkd.api import (
    PluginOptions,
    RecipePath,
    StageContext,
    StageError,
    StagePlugin,
    StageWaiting,
    VlkdError,
    write_json_atomic,
    write_jsonl_atomic,
    write_records,
)
from vlkd.metrics.check_value import check_value
from vlkd.plugins.review import journal
from vlkd.plugins.review.imports import load_state, store_import, stored_imports
from vlkd.plugins.review.sheet import file_sha256, read_sheet, write_csv

EXPORTS = "exports.json"
SHEETS = {"xlsx": "review.xlsx", "csv": "review.csv"}


class SpreadsheetOptions(PluginOptions):
    exports: list[Literal["csv", "xlsx"]] = Field(
        ["csv", "xlsx"], description="Sheets written for the experts"
    )
    thumbnails: bool = Field(True, description="Embed a thumbnail of each image in review.xlsx")
    edits: RecipePath | None = Field(
        None,
        description="A reviewed sheet (.csv/.xlsx) to apply on every run; "
        "changing it re-runs review and the stages after it",
    )
    require_approval: bool = Field(False, description="Only approved or edited pairs go on to the dataset")
    auto_approve: bool = Field(
        False, description="Approve every pair still pending (demos, trusted teachers)"
    )
    require_agreement: bool = Field(
        False,
        description="A team review (vlkd review add-reviewer, --reviewers): only settled pairs go on "
        "(decided by every reviewer they were assigned to, in agreement, or by a lead)",
    )


def _exports(stage_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((stage_dir / EXPORTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def edited_sheets(stage_dir: Path) -> list[Path]:
    """The exported sheets whose bytes differ from what the last run wrote."""
    written = _exports(stage_dir).get("sheets", {})
    return [
        stage_dir / name
        for name, sha in written.items()
        if (stage_dir / name).is_file() and file_sha256(stage_dir / name) != sha
    ]


class SpreadsheetReview(StagePlugin):
    """Experts review pairs in the browser or in CSV/XLSX; edits, rejections, additions and approvals are applied with an audit trail."""

    Options = SpreadsheetOptions
    requires = ("openpyxl",)
    extra = "review"
    keep_dir = True  # review.xlsx may hold an expert's edits: never emptied by a re-run

    def fingerprint(self):
        edits = self.options.edits  # type: ignore[attr-defined]
        if edits is None:
            return None
        return {"edits": file_sha256(edits) if edits.is_file() else "missing"}

    def changed_outside(self, run_dir: Path, entry: dict[str, Any]) -> str | None:
        stage_dir = run_dir / "review"
        applied = _exports(stage_dir).get("log_offset", 0)
        if journal.log_size(run_dir) > applied:
            new, _ = journal.read_log(run_dir, applied)
            if new:
                return f"{len(new)} new review decision(s) or import(s)"
        from vlkd.plugins.review.team.outcome import team_changed

        team = team_changed(run_dir, _exports(stage_dir))
        if team:
            return team
        edited = edited_sheets(stage_dir)
        if edited:
            return f"{edited[0]} was edited in place"
        return None

    def run(self, ctx: StageContext) -> None:
        opts: SpreadsheetOptions = self.options  # type: ignore[assignment]
        pairs_file = ctx.input("pairs")
        images_file = ctx.input("images") if ctx.has_input("images") else None
        for sheet in edited_sheets(ctx.dir):
            self._import_in_place(ctx, sheet, pairs_file, images_file)
        log, offset = journal.read_log(ctx.run_dir)
        state = load_state(ctx.run_dir, pairs_file, images_file, warn=ctx.warn, log=log)
        divided = dict(state.pairs)  # what the review page shows, and divides among a team
        if opts.edits is not None:
            if opts.edits.is_file():
                state.apply(read_sheet(opts.edits), str(opts.edits))
            else:
                ctx.warn(f"edits file {opts.edits} does not exist yet; exporting the sheet for the experts")
        from vlkd.plugins.review.team.outcome import apply_team, team_key

        team = apply_team(state, ctx.run_dir, warn=ctx.warn, divided=divided)
        if opts.require_agreement and team is None:
            ctx.warn(
                "require_agreement: this run has no review team (vlkd review add-reviewer); it changes nothing"
            )
        approved = state.auto_approve() if opts.auto_approve else 0
        pairs = list(state.pairs.values())
        keep = ("approved", "edited") if opts.require_approval else ("pending", "approved", "edited")
        unsettled = team.unsettled if team is not None and opts.require_agreement else set()
        kept = [p for p in pairs if p.review in keep and p.id not in unsettled]
        write_records(ctx.dir / "all_pairs.jsonl", pairs, exclude_none=True)
        ctx.save("pairs", kept)
        write_jsonl_atomic(ctx.dir / "audit.jsonl", (c.to_json() for c in state.changes))
        rows = state.sheet_rows()
        written = {}
        if "csv" in opts.exports:
            written[SHEETS["csv"]] = write_csv(ctx.dir / SHEETS["csv"], rows)
        if "xlsx" in opts.exports:
            from vlkd.plugins.review.sheet_xlsx import write_xlsx

            written[SHEETS["xlsx"]] = write_xlsx(ctx.dir / SHEETS["xlsx"], rows, thumbnails=opts.thumbnails)
        write_json_atomic(
            ctx.dir / EXPORTS,
            {
                "sheets": written,
                "log_offset": offset,
                **({"team_log_offset": team.offset, "team": team_key(ctx.run_dir)} if team else {}),
            },
        )
        counts = state.status_counts()
        ctx.counts.ok = len(kept)
        ctx.facts.update(
            {
                "status": counts,
                "kept": len(kept),
                "changes": len(state.changes),
                "imports": [p.name for p in stored_imports(ctx.run_dir)],
                "decisions": sum(journal.entry_kind(e) == "decision" for e in log),
                "auto_approved": approved,
                # per verify flag: precision and recall against the experts; the teacher's accuracy
                "verify_value": check_value(pairs, (c.to_json() for c in state.changes)),
                **({"team": team.facts} if team is not None else {}),
            }
        )
        sheet = ctx.dir / (SHEETS["xlsx"] if "xlsx" in opts.exports else SHEETS["csv"])
        ctx.info(
            f"{len(pairs)} pairs ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
            f"{len(kept)} go on; sheet for the experts: {sheet}"
        )
        rerun = f"vlkd run {ctx.run.recipe_path or 'RECIPE'}"
        if ctx.run_dir != Path("runs").resolve() / ctx.run.recipe.name:
            rerun += f" --run-dir {ctx.run_dir}"
        how = (
            f"review them in the browser: vlkd review serve {ctx.run_dir} (or edit {sheet} and save it), "
            f"then run again: {rerun}"
        )
        if not kept:
            if unsettled:
                raise StageWaiting(
                    f"{len(unsettled)} pair(s) await the team (reviewers, or a lead for disagreements); {how}"
                )
            if counts.get("pending"):
                raise StageWaiting(f"{counts['pending']} pair(s) await expert review; {how}")
            raise StageError(
                f"no pair goes on to the dataset ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
                f"experts rejected every pair: change some in {sheet} or vlkd review serve {ctx.run_dir}"
            )
        if counts.get("pending") and opts.require_approval:
            ctx.warn(f"{counts['pending']} pairs await review and are left out; {how}")
        if unsettled:
            ctx.warn(f"{len(unsettled)} pairs await the team (require_agreement) and are left out; {how}")

    def _import_in_place(
        self, ctx: StageContext, sheet: Path, pairs_file: Path, images_file: Path | None
    ) -> None:
        try:
            summary = store_import(ctx.run_dir, sheet, pairs_file, images_file)
        except VlkdError as exc:  # invalid rows, or a file no longer readable as a sheet
            raise StageError(
                f"{sheet} was edited in place and cannot be applied; nothing of it was applied and the "
                f"file is kept as it is. Fix what is listed below (or delete the file to get a fresh "
                f"export), then run again.\n{exc}"
            ) from None
        if summary["changes"]:
            ctx.info(
                f"applied {sheet.name} edited in place: {summary['changes']} change(s), stored as "
                f"{summary['file']}"
            )
