"""The open-weights teacher of logit distillation: where its weights are, and whether it fits.

Logit distillation compares distributions over token ids, so teacher and student must share a
tokenizer: the same family (chat template, image tokens) and the same vocabulary. That is checked
when the recipe is validated, from files on disk (``config.json``, ``tokenizer.json``; no weights
are read, nothing is imported but json), so a mismatch costs seconds, not a teacher's load time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import StageError

if TYPE_CHECKING:
    from vlkd.api import Student
    from vlkd.plugins.train.distill_options import TeacherServer
    from vlkd.plugins.train.teacher_server import ServerTeacher

#: which teachers each family's students can learn logits from (the released sizes, for the message)
TEACHERS = {
    "qwen2_vl": "Qwen2-VL (72B -> 2B/7B)",
    "qwen2_5_vl": "Qwen2.5-VL (72B -> 3B/7B)",
    "qwen3_vl": "Qwen3-VL (235B/32B -> 8B/4B/2B)",
    "qwen3_5": "Qwen3.5 (9B+ -> 4B/2B/0.8B)",
    "gemma3": "Gemma 3 (27B -> 12B/4B)",
}


@dataclass(frozen=True)
class TeacherModel:
    """A teacher resolved without loading it: base weights, optional adapter, family."""

    name: str  # as the recipe wrote it
    base: str  # what from_pretrained loads
    adapter: str | None
    family: str

    def fingerprint(self) -> str:
        """What identifies the teacher's outputs, cheaply: its path, its config and the adapter
        (small files: every byte), and each large weight file's size, modification time and
        :data:`SAMPLES` blocks spread over it (a retrained or replaced teacher has the same sizes,
        so sizes alone would keep its old log-probabilities). Part of every cache key."""
        h = hashlib.sha256(self.base.encode())
        for root in (Path(self.base), Path(self.adapter) if self.adapter else None):
            if root is None or not root.is_dir():
                continue
            for file in sorted(root.iterdir()):
                if file.suffix in (".json", ".safetensors", ".bin") and file.is_file():
                    h.update(file.name.encode())
                    _digest_file(h, file)
        return h.hexdigest()[:16]


#: a weight file smaller than this is hashed whole; a larger one by :data:`SAMPLES` blocks
WHOLE_BELOW = 64 << 20
SAMPLES, BLOCK = 16, 1 << 20


def _digest_file(h: Any, file: Path) -> None:
    st = file.stat()
    if st.st_size < WHOLE_BELOW:
        h.update(file.read_bytes())
        return
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with file.open("rb") as fh:
        for i in range(SAMPLES):
            fh.seek((st.st_size - BLOCK) * i // (SAMPLES - 1))
            h.update(fh.read(BLOCK))


def resolve_teacher(name: str) -> TeacherModel:
    """A local checkpoint, a vlkd model directory, or a hub id in the local cache; else StageError."""
    from vlkd.api import family_of, hub_cache_file

    path = Path(name).expanduser()
    card = path / "vlkd_model.json"
    if card.is_file():
        from vlkd.api import ModelCard

        model = ModelCard.read(path)
        base, located = model.base_model, model.base_path(path)
        if located is not None:  # written relative to the card (a run can move): never to the cwd
            if not located.exists():
                raise StageError(
                    f"distill.teacher: {card} names {located} as the model it tuned, and it is missing "
                    "(a run directory copied without its students/ folder?); copy it along or re-run "
                    "that recipe"
                )
            base = str(located.resolve())
        adapter = model.path(path, model.adapter)
        return TeacherModel(name, base, str(adapter.resolve()) if adapter else None, model.family or "")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise StageError(f"distill.teacher: {name} has no config.json; name a checkpoint directory")
        base = str(path.resolve())
    elif hub_cache_file(name, "config.json") is not None:
        base = name
    else:
        raise StageError(
            f"distill.teacher: {name} is neither a directory nor a hub model in the local Hugging Face "
            "cache: name a local checkpoint, a train stage's model/ directory (run its recipe first), "
            "or a hub model downloaded first (huggingface-cli download NAME)"
        )
    try:
        family = family_of(name).name
    except StageError as exc:
        raise StageError(f"distill.teacher: {exc}") from None
    return TeacherModel(name, base, None, family)


def teacher_of(spec: str | TeacherServer) -> TeacherModel | ServerTeacher:
    """The recipe's ``distill.teacher`` resolved: weights on this machine, or a teacher server
    (nothing is contacted: its family comes from the model name it serves)."""
    if isinstance(spec, str):
        return resolve_teacher(spec)
    from vlkd.plugins.train.teacher_server import server_teacher

    return server_teacher(spec)


def vocabulary(model_dir: str | None) -> tuple[int, str] | None:
    """(size, digest) of the tokenizer in ``model_dir`` (``tokenizer.json``), or None when not here."""
    from vlkd.api import hub_cache_file

    if model_dir is None:
        return None
    path = Path(model_dir)
    file = path / "tokenizer.json" if path.is_dir() else hub_cache_file(model_dir, "tokenizer.json")
    if file is None or not file.is_file():
        return None
    data = json.loads(file.read_text(encoding="utf-8"))
    tokens: dict[str, int] = dict(data.get("model", {}).get("vocab") or {})
    for added in data.get("added_tokens") or []:
        tokens[added["content"]] = added["id"]
    digest = hashlib.sha256(json.dumps(sorted(tokens.items())).encode()).hexdigest()[:12]
    return len(tokens), digest


def check_teacher(
    spec: str | TeacherServer, student: Student, student_dir: str | None, *, not_here_yet: bool = False
) -> str | None:
    """Why ``spec`` cannot teach ``student`` logits (family or vocabulary differ), or None.

    ``not_here_yet`` (at ``vlkd validate``): a teacher that is not on this machine yet (a model an
    earlier recipe trains, a hub model downloaded where the training runs) is checked by its hub
    name's family when it has one, and fully when the train stage starts. A teacher server is
    checked by the family of the model name it serves (its vocabulary is checked token by token
    on every answer it scores)."""
    name = spec if isinstance(spec, str) else spec.model
    try:
        teacher = teacher_of(spec)
    except StageError as exc:
        if not not_here_yet:
            return str(exc)
        from vlkd.api import family_of

        try:
            family = family_of(name).name
        except StageError:
            return None
        teacher = TeacherModel(name, name, None, family)
    works = TEACHERS.get(student.family.name, f"a {student.family.name} model")
    if teacher.family != student.family.name:
        return (
            f"distill.teacher: logit distillation needs one tokenizer; the teacher {name} is "
            f"{teacher.family}, the student {student.model} is {student.family.name}. Teachers for a "
            f"{student.family.name} student: {works}; or distil its text (train without distill:)"
        )
    if not isinstance(teacher, TeacherModel):
        return None
    theirs, ours = vocabulary(teacher.base), vocabulary(student_dir)
    if theirs and ours and theirs != ours:
        return (
            f"distill.teacher: the teacher's vocabulary ({theirs[0]:,} tokens, {theirs[1]}) is not the "
            f"student's ({ours[0]:,} tokens, {ours[1]}): both are {teacher.family}, but token ids would not "
            f"match. Teachers for a {student.family.name} student: {works}, with its released tokenizer"
        )
    return None


def student_dir(student: Student, run_dir: Path | None = None) -> str | None:
    """The student's directory when it is already on disk (a tiny one only once built)."""
    from vlkd.api import hub_cache_file, local_dir

    if student.tiny:
        if run_dir is None:
            return None
        built = Path(run_dir) / "students" / f"tiny-{student.family.name}"
        return str(built) if (built / "tokenizer.json").is_file() else None
    local = local_dir(student.model, student.base_dir)
    if local is not None:
        return str(local)
    cached = hub_cache_file(student.model, "config.json")
    return str(cached.parent) if cached else None


def describe(teacher: TeacherModel) -> dict[str, Any]:
    return {"teacher": teacher.name, "teacher_base": teacher.base, "teacher_adapter": teacher.adapter}
