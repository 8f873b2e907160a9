"""One image's tries: which answer it needs next (its cache key, the same online and in a batch),
what an answer makes of it (its ledger entry: pairs, or a failure with the raw answer), and when
it is asked again (an unparsable answer, one cut off by ``max_tokens``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlkd.core.context import Usage
from vlkd.core.records import ImageRecord, Provenance, sha256_bytes
from vlkd.teach.cache import cache_key
from vlkd.teach.calls import ItemFailed, redact
from vlkd.teach.pairs import PairsOf, build_pairs
from vlkd.teach.parsing import Parsed, parse_csv, parse_json

if TYPE_CHECKING:
    from vlkd.teach.prompts import PromptPack
    from vlkd.teach.teacher import Teacher, TeachResponse

#: an answer cut off by max_tokens is asked again with twice the limit, up to this many times it
MAX_TOKENS_GROWTH = 4


def hash_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))[:16]


@dataclass(slots=True)
class ImageJob:
    """One image on its way through its tries: which answer it needs next, what it cost so far."""

    image_id: str
    image_hash: str
    prompt_hash: str | None
    template_hash: str | None
    attempt: int = 0
    #: the attempt this session began at (a failed image asked again goes on from its last try:
    #: the answers of its earlier tries are cached, asking for them again would give the same)
    first_attempt: int = 0
    #: a larger answer limit, after an answer cut off by max_tokens
    max_tokens: int | None = None
    cut_at: int | None = None
    raw: str | None = None
    #: what it cost so far (see :attr:`usage`: made when first counted)
    spent: Usage | None = None
    #: the image's record, or what reads it again by id (a batch keeps a job per image, and
    #: thousands of records would not keep memory flat)
    source: ImageRecord | Callable[[str], ImageRecord] | None = None
    #: the image's category (interned: a few strings for every job), what its pairs need of
    #: the record besides its id: an answer is settled without reading the record again
    category: str | None = None
    #: the key of the answer an open batch chunk holds for it (the batch driver's: until that
    #: chunk is collected, the job is not looked at again)
    held: str | None = None

    @property
    def usage(self) -> Usage:
        """What it cost so far (made on first use: a batch holds 100,000 jobs waiting, none spent yet)."""
        if self.spent is None:
            self.spent = Usage()
        return self.spent

    @property
    def image(self) -> ImageRecord:
        source = self.source
        if isinstance(source, ImageRecord):
            return source
        if source is None:
            raise RuntimeError(f"image job {self.image_id} has no record")
        return source(self.image_id)


class JobRules:
    """The teacher's rules for its images' tries (its options, prompt pack, model, parameters)."""

    def __init__(self, teacher: Teacher, pack: PromptPack | None, params: dict[str, Any], secrets: list[str]):
        self.teacher = teacher
        self.opts = teacher.options
        self.pack = pack
        self.params = params
        self.secrets = secrets

    def key(self, job: ImageJob) -> str:
        """The cache key of the answer ``job`` needs next (the same online and in a batch)."""
        params = self.params
        if job.max_tokens is not None:
            params = {**params, "max_tokens": job.max_tokens}
        return cache_key(
            image_sha256=job.image_hash,
            prompt_hash=job.prompt_hash,
            plugin=self.opts.plugin,
            model=self.teacher.model,
            params=params,
            attempt=job.attempt,
        )

    def parse(self, response: TeachResponse) -> Parsed:
        if response.pairs is not None:
            return Parsed(pairs=[p for p in response.pairs if p.get("question") and p.get("answer")])
        if self.opts.output == "json" or response.data is not None:
            return parse_json(response.text, response.data)
        parsed = parse_csv(response.text)
        if response.extra.get("truncated") and parsed.pairs:
            # the answer hit max_tokens: its last row may be cut in the middle of the answer
            last = parsed.pairs.pop()
            parsed.drop(0, "cut off by max_tokens", f"{last['question']},{last['answer']}")
        return parsed

    def settle(self, job: ImageJob, response: TeachResponse) -> dict[str, Any] | None:
        """The image's ledger entry once ``response`` gives pairs; None when it must be asked again
        (``job`` then names the next try); ``ItemFailed`` when no try is left."""
        job.raw = response.text if response.text else None
        parsed = self.parse(response)
        if parsed.pairs:
            return self.ok_entry(job, parsed, response)
        limit = getattr(self.opts, "max_tokens", None)
        job.cut_at = None
        if response.extra.get("truncated") and limit:
            # cut off before any pair was whole: ask again with room for the answer (bounded)
            job.cut_at = job.max_tokens or limit
            job.max_tokens = min(job.cut_at * 2, limit * MAX_TOKENS_GROWTH)
        job.attempt += 1
        if job.attempt - job.first_attempt <= self.opts.parse_retries:
            return None
        tries = self.opts.parse_retries + 1
        if job.cut_at is not None:
            raise ItemFailed(
                f"answer cut off at max_tokens {job.cut_at} after {tries} tries "
                f"(raise teach.max_tokens, or ask for fewer pairs)",
                job.raw,
            )
        why = parsed.dropped[0]["reason"] if parsed.dropped else "no pairs in the answer"
        raise ItemFailed(f"unparsable answer after {tries} tries: {why}", job.raw)

    def ok_entry(self, job: ImageJob, parsed: Parsed, response: TeachResponse) -> dict[str, Any]:
        provenance = Provenance(
            plugin=self.opts.plugin, model=response.model or self.teacher.model, prompt_hash=job.template_hash
        )
        records, neg_dropped = build_pairs(
            parsed.pairs,
            PairsOf(job.image_id, job.category),
            negative_answer=self.opts.negative_answer,
            negative_ratio=self.opts.negative_ratio,
            provenance=provenance,
            negative_aliases=self.pack.negative_aliases if self.pack else (),
        )
        return {
            "status": "ok",
            "records": records,
            "pairs": len(records),
            "negatives": sum(1 for r in records if r["negative"]),
            "negatives_dropped": neg_dropped,
            "dropped": parsed.dropped,
            "usage": job.usage.to_json(),
        }

    def failed_entry(self, job: ImageJob | None, reason: str, raw: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "status": "failed",
            "records": [],
            "reason": redact(reason, self.secrets),
            "usage": (job.usage if job else Usage()).to_json(),
        }
        raw = raw if raw is not None else (job.raw if job else None)
        if job is not None and job.attempt:
            entry["attempt"] = job.attempt  # where a retry of this image goes on
        if raw is not None:
            entry["raw"] = redact(raw, self.secrets)
        return entry

    def skipped_entry(self, job: ImageJob | None, reason: str) -> dict[str, Any]:
        return {
            "status": "skipped",
            "records": [],
            "reason": redact(reason, self.secrets),
            "usage": (job.usage if job else Usage()).to_json(),
        }
