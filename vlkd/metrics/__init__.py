"""Pure metric functions for document VQA: no model, no heavy import.

- :mod:`vlkd.metrics.normalize`: answer normalisation (NFKC, case, whitespace, punctuation)
- :mod:`vlkd.metrics.scores`: exact match, ANLS (the paper's and the DocVQA script's), relaxed accuracy
- :mod:`vlkd.metrics.quantities`: numbers, units, currencies and identifiers in answers
- :mod:`vlkd.metrics.negation`: negated answers (``not 35``, ``不是35``)
- :mod:`vlkd.metrics.not_present`: precision/recall/F1 of answering "not present"
- :mod:`vlkd.metrics.bootstrap`: seeded percentile bootstrap and paired bootstrap of a delta
- :mod:`vlkd.metrics.summary`: per-item scores aggregated overall and per category, with CIs
"""

from vlkd.metrics.normalize import normalize_answer
from vlkd.metrics.not_present import NotPresentCounts, is_not_present
from vlkd.metrics.scores import anls, anls_docvqa, exact_match, levenshtein, relaxed_accuracy

__all__ = [
    "NotPresentCounts",
    "anls",
    "anls_docvqa",
    "exact_match",
    "is_not_present",
    "levenshtein",
    "normalize_answer",
    "relaxed_accuracy",
]
