"""The bootstrap's resampling, rewritten to reuse its weights (#24), gives the intervals it gave
before, draw for draw: the earlier implementation is kept here as the reference."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

import vlkd.metrics.bootstrap as bootstrap
from vlkd.metrics.summary import score_item, summarize


def reference_resampled_sums(matrices, samples, seed):
    """``_resampled_sums`` as it was before #24 (one bincount over a whole chunk, fresh arrays)."""
    rng = np.random.default_rng(seed)
    n = matrices[0].shape[0]
    chunk = max(1, min(samples, (1 << 22) // n))
    done = 0
    while done < samples:
        rows = min(chunk, samples - done)
        draws = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
        weights = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)
        sums = [(weights @ m).tolist() for m in matrices]
        for r in range(rows):
            yield [s[r] for s in sums]
        done += rows


@pytest.mark.parametrize(
    ("n", "samples", "seed"),
    [(1, 50, 0), (7, 300, 3), (5001, 1000, 0), (20_001, 250, 11)],
)
def test_the_same_resampled_sums(n, samples, seed):
    """Odd and even sizes, chunks that do not divide the samples, one row per chunk."""
    rng = np.random.default_rng(42)
    a, b = rng.random((n, 3)), rng.integers(0, 2, (n, 2)).astype(np.float64)
    got = [[x for sums in row for x in sums] for row in bootstrap._resampled_sums([a, b], samples, seed)]
    want = [[x for sums in row for x in sums] for row in reference_resampled_sums([a, b], samples, seed)]
    assert len(got) == len(want) == samples
    assert np.allclose(got, want, rtol=1e-12, atol=0)


def _records(n: int) -> list[dict]:
    r = random.Random(1)
    refs = ["35 N·m", "04465-33450", "刹车片", "不存在", "12/15/89", "¥120", "P0301"]
    out = []
    for i in range(n):
        ref = r.choice(refs)
        for system in ("base", "tuned"):
            pred = ref if r.random() < (0.5 if system == "base" else 0.7) else ref[:-1] + "x"
            scores = score_item(pred, ref, negative=ref == "不存在")
            out.append({"system": system, "id": str(i), "category": f"c{i % 3}", "scores": scores})
    return out


def test_summaries_identical_to_the_sixth_decimal(monkeypatch):
    records = _records(1200)
    got = summarize(records, systems=["base", "tuned"], samples=200, seed=9)
    monkeypatch.setattr(bootstrap, "_resampled_sums", reference_resampled_sums)
    want = summarize(records, systems=["base", "tuned"], samples=200, seed=9)
    assert got == want  # every value and interval rounded to 6 decimals, as metrics.json has them
    assert got["results"]["tuned"]["categories"]["c1"]["anls"]["ci"] is not None


def test_one_weight_matrix_at_a_time():
    """The resampling holds one chunk's weights and draws; the reference allocated four arrays
    of the chunk's size each round (tens of megabytes: page faults, which cost system time
    several-fold when other work shares the machine)."""
    n = 20_000
    m = np.random.default_rng(0).random((n, 11))
    samples = 150
    weights_bytes = min(samples, (1 << 22) // n) * n * 8
    peaks = {}
    for name, fn in (("now", bootstrap._resampled_sums), ("before", reference_resampled_sums)):
        tracemalloc.start()
        for _ in fn([m], samples, 0):
            pass
        peaks[name] = tracemalloc.get_traced_memory()[1] / weights_bytes
        tracemalloc.stop()
    assert peaks["now"] < 1.8 < peaks["before"], peaks
