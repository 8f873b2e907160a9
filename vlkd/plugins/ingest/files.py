"""The ``files`` ingestor: images and PDF pages from folders, globs and manifests.

Every input file is read once: its SHA-256 is the image id, and the image is checked
(header, pixel limit and, with ``verify``, a full decode) so that a broken file is skipped
here with its reason instead of failing a later stage. PDF pages are rendered to PNG files
under ``ingest/pages/``. Files with the same bytes collapse into one record that keeps
every source path. The originals are only read, never written.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from vlkd.api import OneOrMany, OnError, PluginOptions, RecipePath, StagePlugin
from vlkd.images.decode import PILLOW_MAX_PIXELS

DEFAULT_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".pdf"]


def _exists_unless_glob(path: Path) -> Path:
    from vlkd.plugins.ingest.listing import is_glob

    if not is_glob(str(path)) and not path.exists():
        raise ValueError(f"no such file or directory: {path}")
    return path


InputPath = Annotated[RecipePath, AfterValidator(_exists_unless_glob)]


class FilesOptions(PluginOptions):
    inputs: OneOrMany[InputPath] = Field(
        default_factory=list,
        description="directories (searched recursively), globs (`photos/**/*.jpg`) or files; relative "
        "to the recipe file",
    )
    manifest: OneOrMany[InputPath] = Field(
        default_factory=list,
        description="CSV or JSONL files listing images: a `path` column (relative to the manifest), "
        "optional `category` and `pages`, every other column kept as metadata",
    )
    extensions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXTENSIONS),
        description="file types taken from directories and globs",
    )
    pdf_dpi: int = Field(default=150, ge=36, le=600, description="resolution PDF pages are rendered at")
    pdf_pages: str | None = Field(
        default=None,
        description="pages of every PDF, e.g. '1-3,5' (default: all); "
        "a manifest's `pages` column overrides it",
    )
    max_pixels: int | None = Field(
        default=PILLOW_MAX_PIXELS,
        ge=1,
        description="skip images with more pixels (decompression bombs); null for no limit",
    )
    max_file_mb: float = Field(
        default=1024,
        gt=0,
        description="skip input files larger than this many MiB (a wrong file, not a document)",
    )
    verify: bool = Field(default=True, description="decode every image fully to catch truncated files now")
    category: str | None = Field(
        default=None, description="category of images the manifest does not classify"
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        json_schema_extra={"fingerprint": False},
        description="worker processes [default: the CPUs this process may use]",
    )
    on_error: OnError = Field(default="skip", description="skip a bad file with its reason, or stop the run")

    @field_validator("pdf_pages")
    @classmethod
    def _pages(cls, value: str | None) -> str | None:
        from vlkd.images.pdf import parse_page_range

        parse_page_range(value)
        return value

    @field_validator("manifest")
    @classmethod
    def _manifest_files(cls, value: list[Path]) -> list[Path]:
        for path in value:
            if path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".ndjson"):
                raise ValueError(f"{path}: a manifest must be .csv, .tsv or .jsonl")
        return value


class FilesIngestor(StagePlugin):
    """Images and PDF pages from folders, globs and CSV/JSONL manifests."""

    Options = FilesOptions
    # pypdfium2 (extra "pdf") is needed only when a PDF is met: each such file is skipped with
    # the install hint, images are ingested without it.

    options: FilesOptions

    def listing(self):
        from vlkd.plugins.ingest.listing import list_inputs

        opts = self.options
        if not opts.inputs and not opts.manifest:
            from vlkd.api import StageError

            raise StageError("ingest: give 'inputs' (folders, globs, files) and/or a 'manifest'")
        return list_inputs(opts.inputs, opts.manifest, opts.extensions)

    def fingerprint(self) -> Any:
        """The input files' sizes and modification times: new or changed files re-run the stage."""
        from vlkd.api import file_problem
        from vlkd.plugins.ingest.listing import MAX_MANIFEST_BYTES

        digest = hashlib.sha256()
        for path in self.options.manifest:
            ok = path.exists() and file_problem(path, MAX_MANIFEST_BYTES) is None
            digest.update(path.read_bytes() if ok else b"")
        for item in self.listing().files:
            if item.problem:
                digest.update(f"{item.path}\0{item.problem}\n".encode())
                continue
            try:
                st = os.stat(item.path)
                digest.update(f"{item.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{item.path}\0missing\n".encode())
        return {"files": digest.hexdigest()}

    def run(self, ctx) -> None:
        from vlkd.plugins.ingest.collapse import Collapsed
        from vlkd.plugins.ingest.reading import ReadFile

        opts = self.options
        listing = self.listing()
        pages_dir = ctx.dir / "pages"
        work = ReadFile(opts, pages_dir)
        if opts.on_error == "fail":
            from vlkd.images.decode import strict

            work = strict(work)
        from vlkd.api import usable_cpus

        workers = opts.workers or usable_cpus()
        items = [f.to_json() for f in listing.files]
        ignored_types = listing.ignored
        del listing  # a listed file each: the items above say the same
        if not items:
            from vlkd.api import StageError

            ignored = ", ".join(f"{n} {e}" for e, n in ignored_types.items())
            raise StageError(
                "ingest: no image or PDF files found in "
                + ", ".join(map(str, [*opts.inputs, *opts.manifest]))
                + (f" (only other types: {ignored}; see ingest.extensions)" if ignored else "")
            )
        results = ctx.map_items_streamed(
            items,
            key=lambda f: f["path"],
            work=work,
            workers=workers,
            processes=workers > 1,
            on_error=opts.on_error,
            description="ingest",
            probe=lambda f: f["path"],
        )
        files = len(items)
        del items
        images = Collapsed(results)  # streamed from the ledger: no record of each file held
        ctx.save("images", images)
        duplicates = images.duplicates
        ctx.facts.update(
            {
                "files": files,
                "images": images.images,
                "pdf_pages": images.pdf_pages,
                "duplicates_collapsed": duplicates,
            }
        )
        if ignored_types:
            ctx.facts["ignored_files"] = ignored_types
            ctx.info(
                "ignored files of other types: "
                + ", ".join(f"{n} {e}" for e, n in ignored_types.items())
                + " (add their extension to ingest.extensions to take them)"
            )
        if duplicates:
            ctx.info(f"{duplicates} exact duplicate file(s) collapsed into the record of the same bytes")
