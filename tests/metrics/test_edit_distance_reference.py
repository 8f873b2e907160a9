"""ANLS on rapidfuzz's edit distance against an independent reference, and hostile lengths.

The reference is the textbook Wagner-Fischer table (a full matrix, no shortcuts) and the two
ANLS definitions written out from their papers/scripts; 1,000 seeded cases must agree to the
sixth decimal with what ``vlkd score`` computes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from vlkd.metrics import anls, anls_docvqa, levenshtein
from vlkd.metrics.normalize import light_normalize
from vlkd.metrics.scores import MAX_SCORED_CHARS

ALPHABET = "abcdeABCDE 0123-./刹车片盘ß°Ｎ·m\t"


def reference_distance(a: str, b: str) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        table[i][0] = i
    for j in range(len(b) + 1):
        table[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table[len(a)][len(b)]


def reference_anls(prediction: str, references: list[str], tau: float = 0.5) -> float:
    best = 0.0
    for ref in references:
        p, r = light_normalize(prediction), light_normalize(ref)
        if not p and not r:
            return 1.0
        nl = reference_distance(p, r) / max(len(p), len(r))
        best = max(best, 0.0 if nl >= tau else 1.0 - nl)
    return best


def reference_anls_docvqa(prediction: str, references: list[str]) -> float:
    # The DocVQA script: NL over the "as given" lengths, 1 - min NL, below 0.5 scores 0.
    det = " ".join(prediction.strip().lower().split())
    values = []
    for ref in references:
        gt = " ".join(ref.strip().lower().split())
        length = max(len(ref.upper()), len(prediction.upper()))
        values.append(0.0 if length == 0 else reference_distance(gt, det) / length)
    score = 1.0 - min(values)
    return 0.0 if score < 0.5 else score


def _variant(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 4)):
        op = rng.choice("ids")
        pos = rng.randint(0, len(chars))
        if op == "i":
            chars.insert(pos, rng.choice(ALPHABET))
        elif chars and pos < len(chars):
            if op == "d":
                del chars[pos]
            else:
                chars[pos] = rng.choice(ALPHABET)
    return "".join(chars)


def _cases(n: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(24)
    cases = []
    for _ in range(n):
        ref = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        refs = [ref] + [_variant(rng, ref) for _ in range(rng.randint(0, 2))]
        pred = _variant(rng, ref) if rng.random() < 0.8 else "".join(rng.choice(ALPHABET) for _ in range(8))
        cases.append((pred, refs))
    return cases


def test_anls_matches_an_independent_reference_on_1000_cases():
    for pred, refs in _cases(1000):
        for ref in refs:
            assert levenshtein(pred, ref) == reference_distance(pred, ref) == levenshtein(ref, pred)
        assert round(anls(pred, refs), 6) == round(reference_anls(pred, refs), 6), (pred, refs)
        assert round(anls_docvqa(pred, refs), 6) == round(reference_anls_docvqa(pred, refs), 6), (pred, refs)


@pytest.mark.timeout(60)
def test_hostile_lengths_are_bounded():
    # Two 200,000-character strings: the old pure-Python table would run for hours.
    rng = random.Random(1)
    a = "".join(rng.choice("abcd") for _ in range(200_000))
    b = "".join(rng.choice("abcd") for _ in range(200_000))
    assert 0 < levenshtein(a, b) <= MAX_SCORED_CHARS
    assert anls_docvqa(a, [b]) == 0.0
    # Beyond the bound only the first MAX_SCORED_CHARS characters count.
    assert levenshtein(a, a[:MAX_SCORED_CHARS] + "x" * 50) == 0
    assert anls(a, a[:MAX_SCORED_CHARS] + "y" * 10) == 1.0


@pytest.mark.timeout(120)
def test_score_command_says_long_strings_were_cut(tmp_path):
    path = tmp_path / "answers.jsonl"
    lines = [
        {"prediction": "x" * 50_000, "answers": ["y" * 50_000]},
        {"prediction": "35 N·m", "answers": ["35 N·m"]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "vlkd", "score", str(path), "--json", "--samples", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"answers.jsonl: line 1 holds a string longer than {MAX_SCORED_CHARS:,} characters" in done.stderr
    out = json.loads(done.stdout)
    assert out["items"] == 2
    assert out["overall"]["anls"]["value"] == pytest.approx(0.5)
