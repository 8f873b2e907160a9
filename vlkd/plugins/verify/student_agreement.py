"""``student_agreement``: the student answers first, so teacher and expert effort goes where it fails.

Before the experts look, the student (the recipe's base student, or a previously tuned one:
``model: runs/x/train/model``) answers every pair's question about its image, through the
evaluate stage's own backends (transformers here, or any OpenAI-compatible server such as vLLM),
with the evaluate stage's greedy decoding and image settings. Each pair records the student's
answer and its ANLS agreement with the teacher's (``checks.student_agreement``: the metrics'
normalisation and ANLS). A pair the student gets wrong is flagged ``student_wrong`` (the risk:
review it first); one it already answers ``student_knows`` (zero delta: training on it teaches
nothing new). ``keep_known: 0.2`` keeps a fifth of the ``student_knows`` pairs of each category
(chosen by a hash of the pair id, so a re-run keeps the same ones) and drops the rest, flagged
``zero_delta``, before review: the review queue shrinks by exactly that part.

The student's answers are kept in ``verify/student_answers.jsonl`` (by model, image and
question): a resumed stage does not ask again.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from vlkd.api import AGREEMENT, STUDENT_ANSWER, Findings, JsonlAppender, Verifier, VerifierOptions

if TYPE_CHECKING:
    from vlkd.api import ImageRecord, QARecord, StageContext

ANSWERS_FILE = "student_answers.jsonl"
WRONG, KNOWS, ZERO_DELTA = "student_wrong", "student_knows", "zero_delta"


class StudentAgreementOptions(VerifierOptions):
    backend: Literal["transformers", "openai"] = Field(
        "transformers",
        description="transformers: load the student here; openai: ask an OpenAI-compatible server",
    )
    model: str | None = Field(
        None,
        description="A tuned student's model directory (a train stage's model/, with vlkd_model.json); "
        "default: the recipe's student as it is",
    )
    knows_at: float = Field(
        0.8,
        gt=0,
        le=1,
        description="ANLS agreement with the teacher at or above which the student knows a pair",
    )
    keep_known: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of the student_knows pairs kept per category (the rest: zero_delta, dropped)",
    )
    max_new_tokens: int = Field(64, gt=0, description="Longest answer generated (greedy)")
    batch_size: int = Field(8, gt=0, description="Answers per forward pass (transformers)")
    device: str = Field("auto", description="auto, cpu, cuda, mps (transformers)")
    base_url: str | None = Field(
        None, description="openai backend: the server, e.g. http://localhost:8000/v1"
    )
    model_name: str | None = Field(None, description="openai backend: the student's model name on the server")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai backend: environment variable of the key")

    @model_validator(mode="after")
    def _consistent(self) -> StudentAgreementOptions:
        if self.backend == "openai" and not (self.base_url and self.model_name):
            raise ValueError("backend 'openai' needs base_url and model_name (the student on the server)")
        if self.keep_known < 1 and ZERO_DELTA not in self.drop:
            self.drop = [*self.drop, ZERO_DELTA]  # keep_known < 1 means: drop the surplus
        return self


class StudentAgreement(Verifier):
    """The student answers every pair first: student_wrong / student_knows; keep_known drops the surplus."""

    Options = StudentAgreementOptions
    options: StudentAgreementOptions
    flags = (WRONG, KNOWS, ZERO_DELTA)
    uses_student = True

    def __init__(self, options, student=None):
        super().__init__(options, student)
        self.answers: dict[str, dict[str, Any]] = {}  # pair id -> answer, agreement
        self.surplus: set[str] = set()
        self.facts: dict[str, Any] = {}

    # -- the student's answers ---------------------------------------------------------------
    def _model_info(self, run_dir: Path):
        from vlkd.answering.items import ModelInfo, load_model_info

        s = self.student
        if self.options.model:
            return load_model_info(Path(self.options.model))
        assert s is not None
        return ModelInfo(
            trainer="peft",
            base_model=s.path(run_dir) if self.options.backend == "transformers" else s.model,
            adapter=None,
            min_pixels=s.image_min_pixels,
            max_pixels=s.image_max_pixels,
            template=s.template,
            log=None,
            family=s.family,
        )

    def _backend(self, info):
        o = self.options
        if o.backend == "openai":
            from vlkd.answering.openai_backend import OpenAIStudent

            name = o.model_name or ""
            return OpenAIStudent(
                info,
                base_url=o.base_url,
                tuned_base_url=None,
                api_key=None,
                api_key_env=o.api_key_env,
                model_names={"base": name, "tuned": name},
                max_new_tokens=o.max_new_tokens,
                system_prompt=None,
                timeout=120.0,
            )
        from vlkd.answering.local_backend import LocalStudent

        return LocalStudent(info, max_new_tokens=o.max_new_tokens, system_prompt=None, device=o.device)

    def _check_backend(self) -> None:
        from vlkd.answering.backends import check_backend

        check_backend("student_agreement", self.options.backend)

    def start(self, ctx: StageContext, images: list[ImageRecord], pairs: dict[str, list[QARecord]]) -> None:
        from vlkd.answering.items import EvalItem
        from vlkd.api import image_path
        from vlkd.metrics.scores import anls

        self._check_backend()
        info = self._model_info(ctx.run_dir)
        who = f"{info.base_model}+{info.adapter}" if info.adapter else info.base_model
        system = "tuned" if info.adapter or self.options.model else "base"
        store = ctx.dir / ANSWERS_FILE
        known = _read_answers(store)
        todo, keys = [], {}
        for image in images:
            for pair in pairs.get(image.id, []):
                key = _key(who, image.id, pair.question)
                keys[pair.id] = key
                if key not in known:
                    todo.append(
                        EvalItem(
                            pair.id,
                            image.id,
                            str(image_path(ctx.run_dir, image.path)),
                            pair.question,
                            pair.answer,
                            pair.category,
                            pair.negative,
                        )
                    )
        if todo:
            backend = self._backend(info)
            task = ctx.progress(len(todo), description="student answers first")
            size = self.options.batch_size if self.options.backend == "transformers" else 1
            try:
                with JsonlAppender(store) as out:  # a torn last line (a kill) is cut off first
                    for start in range(0, len(todo), size):
                        chunk = todo[start : start + size]
                        rows = []
                        for item, answer in zip(chunk, backend.generate(system, chunk), strict=True):
                            known[keys[item.id]] = answer
                            rows.append({"key": keys[item.id], "answer": answer})
                        out.append_many(rows)
                        task.advance(len(chunk))
            finally:
                task.close()
        by_category: dict[str, list[str]] = defaultdict(list)
        for image in images:
            for pair in pairs.get(image.id, []):
                answer = known[keys[pair.id]]
                agreement = round(anls(answer, pair.answer), 4)
                self.answers[pair.id] = {"answer": answer, "agreement": agreement}
                if agreement >= self.options.knows_at:
                    by_category[pair.category or "(none)"].append(pair.id)
        self.surplus = set()
        for ids in by_category.values():
            kept = math.ceil(len(ids) * self.options.keep_known - 1e-9)
            ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
            self.surplus.update(ranked[kept:])
        total = len(self.answers)
        knows = sum(len(v) for v in by_category.values())
        self.facts = {
            "student": who,
            "asked": len(todo),
            "from_store": total - len(todo),
            "student_knows": knows,
            "student_wrong": total - knows,
            "zero_delta_dropped": len(self.surplus),
            "known_per_category": {c: len(v) for c, v in sorted(by_category.items())},
        }

    def check(self, image: ImageRecord, pairs: list[QARecord], found: Findings) -> None:
        for pair in pairs:
            got = self.answers[pair.id]
            found.record(pair, **{STUDENT_ANSWER: got["answer"], AGREEMENT: got["agreement"]})
            if got["agreement"] >= self.options.knows_at:
                # no doubt: the student agrees with the teacher, so review takes these last
                found.flag(pair, KNOWS, f"the student already answers {got['answer']!r}", doubt=False)
                if pair.id in self.surplus:
                    found.flag(
                        pair,
                        ZERO_DELTA,
                        f"beyond keep_known {self.options.keep_known:g} of its category",
                        doubt=False,
                    )
            else:
                found.flag(
                    pair,
                    WRONG,
                    f"the student answers {got['answer']!r} (agreement {got['agreement']:.2f})",
                )

    def finish(self, ctx: StageContext) -> dict[str, Any]:
        return self.facts


def _key(model: str, image_id: str, question: str) -> str:
    return hashlib.sha256(json.dumps([model, image_id, question], ensure_ascii=False).encode()).hexdigest()[
        :24
    ]


def _read_answers(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_bytes().splitlines():
        try:
            row = json.loads(line)
            out[row["key"]] = row["answer"]
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError too: cut inside a character
            continue  # a torn or damaged line: that answer is asked again
    return out
