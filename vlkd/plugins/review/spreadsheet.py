"""Expert review through a spreadsheet: export CSV + XLSX, apply the experts' edits.

Every run writes into the review stage directory:

- ``review.csv`` and ``review.xlsx``: one row per pair (see :mod:`.sheet` for the columns)
  for experts to correct, approve, reject, or add pairs to;
- ``all_pairs.jsonl``: every pair with its review status (rejected ones included);
- ``pairs.jsonl``: the pairs that go on to split and format: not rejected, and with
  ``require_approval: true`` only approved or edited ones;
- ``audit.jsonl``: one line per change, with the values before and after, the file and row.

The stage finishes (and exports) before any expert has looked at the pairs. Their edits
come back through ``vlkd review import RUN_DIR FILE`` or the ``edits:`` file of the recipe
(see :mod:`.imports` for how each one makes the later stages re-run).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlkd.core.context import StageContext
from vlkd.core.errors import StageError
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.core.options import PluginOptions, RecipePath
from vlkd.core.plugin import StagePlugin
from vlkd.plugins.review.imports import IMPORTS_DIR, file_sha256, load_state, stored_imports
from vlkd.plugins.review.sheet import read_sheet, write_csv, write_xlsx


class SpreadsheetOptions(PluginOptions):
    exports: list[Literal["csv", "xlsx"]] = Field(
        ["csv", "xlsx"], description="Sheets written for the experts"
    )
    edits: RecipePath | None = Field(
        None,
        description="A reviewed sheet (.csv/.xlsx) to apply on every run; "
        "changing it re-runs review and the stages after it",
    )
    require_approval: bool = Field(False, description="Only approved or edited pairs go on to the dataset")
    auto_approve: bool = Field(
        False, description="Approve every pair still pending (demos, trusted teachers)"
    )


class SpreadsheetReview(StagePlugin):
    """Experts review pairs in CSV/XLSX; edits, rejections, additions and approvals are applied with an audit trail."""

    Options = SpreadsheetOptions
    requires = ("openpyxl",)
    extra = "review"

    def fingerprint(self):
        edits = self.options.edits  # type: ignore[attr-defined]
        if edits is None:
            return None
        return {"edits": file_sha256(edits) if edits.is_file() else "missing"}

    def run(self, ctx: StageContext) -> None:
        opts: SpreadsheetOptions = self.options  # type: ignore[assignment]
        images_file = ctx.input("images") if ctx.has_input("images") else None
        state = load_state(ctx.run_dir, ctx.input("pairs"), images_file, warn=ctx.warn)
        imports = stored_imports(ctx.run_dir)
        if opts.edits is not None:
            if opts.edits.is_file():
                state.apply(read_sheet(opts.edits), str(opts.edits))
            else:
                ctx.warn(f"edits file {opts.edits} does not exist yet; exporting the sheet for the experts")
        # versions as the imports see the pairs: before auto-approval, which every run redoes
        versions = {row["pair_id"]: row["version"] for row in state.sheet_rows()}
        approved = state.auto_approve() if opts.auto_approve else 0
        pairs = list(state.pairs.values())
        keep = ("approved", "edited") if opts.require_approval else ("pending", "approved", "edited")
        kept = [p for p in pairs if p.get("review", "pending") in keep]
        write_jsonl_atomic(ctx.dir / "all_pairs.jsonl", pairs)
        write_jsonl_atomic(ctx.output("pairs"), kept)
        write_jsonl_atomic(ctx.dir / "audit.jsonl", (c.to_json() for c in state.changes))
        rows = [{**row, "version": versions[row["pair_id"]]} for row in state.sheet_rows()]
        if "csv" in opts.exports:
            write_csv(ctx.dir / "review.csv", rows)
        if "xlsx" in opts.exports:
            write_xlsx(ctx.dir / "review.xlsx", rows)
        counts = state.status_counts()
        ctx.counts.ok = len(kept)
        ctx.facts.update(
            {
                "status": counts,
                "kept": len(kept),
                "changes": len(state.changes),
                "imports": [p.name for p in imports],
                "auto_approved": approved,
            }
        )
        sheet = ctx.dir / ("review.xlsx" if "xlsx" in opts.exports else "review.csv")
        how = f"vlkd review import {ctx.run_dir} FILE"
        ctx.info(
            f"{len(pairs)} pairs ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
            f"{len(kept)} go on; sheet for the experts: {sheet}"
        )
        if not kept:
            raise StageError(
                f"no pair goes on to the dataset ({', '.join(f'{k} {v}' for k, v in counts.items())}"
                f"{'; require_approval is on' if opts.require_approval else ''}). Have {sheet} "
                f"reviewed, then run: {how}, and run the recipe again"
            )
        if counts.get("pending") and opts.require_approval:
            ctx.warn(
                f"{counts['pending']} pairs await review and are left out; import the reviewed sheet "
                f"with: {how}"
            )
        if not state.changes and not (ctx.run_dir / IMPORTS_DIR).exists():
            ctx.info(f"no expert edits yet; when the sheet comes back: {how}")
