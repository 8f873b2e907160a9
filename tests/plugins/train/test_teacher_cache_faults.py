"""The teacher-logit cache under faults: a torn, empty or foreign entry is computed again (never
read as the teacher's), a full disk is an ``OSError`` naming the file and leaves no entry, and a
teacher whose large weight files change at the same size gets a new key."""

from __future__ import annotations

import errno
import resource
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from vlkd.plugins.train.teacher import TeacherModel  # noqa: E402
from vlkd.plugins.train.teacher_cache import TeacherCache  # noqa: E402


def sample(tmp_path: Path, answer: str = "brake disc") -> SimpleNamespace:
    image = tmp_path / "a.png"
    if not image.exists():
        image.write_bytes(b"\x89PNG not really, but bytes to hash")
    return SimpleNamespace(
        messages=[{"role": "user", "content": "<image>what?"}, {"role": "assistant", "content": answer}],
        images=[str(image)],
    )


def entry(k: int = 5, n: int = 3):
    top = torch.log_softmax(torch.randn(n, 50), -1).topk(k, dim=-1)
    return top.indices.to(torch.int32), top.values


def cache(tmp_path: Path, top_k: int = 5, teacher: str = "t1") -> TeacherCache:
    return TeacherCache(tmp_path / "cache", teacher, top_k, {"cutoff_len": 64})


def test_a_whole_entry_is_found_and_read_back(tmp_path):
    c, s = cache(tmp_path), sample(tmp_path)
    ids, lp = entry()
    c.save(s, ids, lp)
    assert c.has(s)
    got_ids, got_lp = c.load(s)
    assert torch.equal(got_ids, ids) and torch.equal(got_lp, lp)
    assert not list(c.root.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["empty", "torn", "garbage"])
def test_a_damaged_entry_is_not_the_teachers_and_is_computed_again(tmp_path, damage):
    c, s = cache(tmp_path), sample(tmp_path)
    c.save(s, *entry())
    path = c.path(c.key(s))
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "torn": data[: len(data) - 7], "garbage": b"\x00" * len(data)}[damage])
    assert not c.has(s)  # the stage computes it again instead of failing in the middle of training
    assert not path.exists()


def test_a_file_copied_in_under_another_entrys_name_is_not_used(tmp_path):
    """An entry of another teacher (or top_k) renamed or copied over this one's name."""
    theirs, ours, s = cache(tmp_path, teacher="other"), cache(tmp_path), sample(tmp_path)
    theirs.save(s, *entry())
    ours.path(ours.key(s)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(theirs.path(theirs.key(s)), ours.path(ours.key(s)))
    assert theirs.has(s) and not ours.has(s)


def test_an_entry_with_more_tokens_per_position_than_top_k_is_not_used(tmp_path):
    big, small, s = cache(tmp_path, top_k=8), cache(tmp_path, top_k=4), sample(tmp_path)
    big.save(s, *entry(k=8))
    small.path(small.key(s)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(big.path(big.key(s)), small.path(small.key(s)))
    assert not small.has(s)


def test_a_full_disk_is_an_oserror_naming_the_file_and_leaves_no_entry(tmp_path):
    """RLIMIT_FSIZE makes the write fail as a full disk does (EFBIG instead of ENOSPC): the
    engine turns an OSError about a file in the run directory into its one-line message."""
    c, s = cache(tmp_path), sample(tmp_path)
    c.key(s)  # hash the image before the limit
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, old_limit[1]))
    try:
        with pytest.raises(OSError) as exc:
            c.save(s, *entry(n=40))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert exc.value.errno in (errno.EFBIG, errno.ENOSPC)
    assert exc.value.filename and str(c.root) in exc.value.filename
    assert not c.has(s) and not list(c.root.rglob("*.tmp"))


def test_a_teacher_retrained_at_the_same_sizes_gets_a_new_key(tmp_path):
    """Large weight files used to count by size alone: a retrained teacher (same shapes, so the
    same sizes) kept the old teacher's log-probabilities."""
    from vlkd.plugins.train import teacher as teacher_mod

    root = tmp_path / "teacher"
    root.mkdir()
    (root / "config.json").write_text("{}")
    weights = root / "model.safetensors"
    with weights.open("wb") as fh:  # sparse: larger than the whole-hash limit, no disk used
        fh.truncate(teacher_mod.WHOLE_BELOW + 3 * teacher_mod.BLOCK)
    t = TeacherModel("t", str(root), None, "qwen2_vl")
    before = t.fingerprint()
    stat = weights.stat()
    with weights.open("r+b") as fh:  # new values in every tensor (one each MiB), the same size
        for at in range(4096, stat.st_size, 1 << 20):
            fh.seek(at)
            fh.write(b"retrained")
    import os

    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old time kept
    assert weights.stat().st_size == stat.st_size
    assert t.fingerprint() != before
