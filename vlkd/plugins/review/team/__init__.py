"""Review as a team: reviewers with keys of their own, images assigned with overlap, blind double
review, adjudication by a lead, agreement figures.

- :mod:`.roster`: the reviewers (name, role, hashed key, revoked) and the team's settings, kept in
  ``RUN_DIR/review-imports/team.json``; ``reviewers.yaml`` and ``vlkd review add-reviewer`` fill it;
- :mod:`.assign`: which reviewers see which image (deterministic, balanced, overlap risk first);
- :mod:`.log`: the team's decisions and adjudications, ``RUN_DIR/review-imports/team.jsonl``;
- :mod:`.settle`: per pair, each reviewer's decision, agreement, the lead's final word;
- :mod:`.agreement`: observed agreement, Cohen's kappa / Krippendorff's alpha and the rest;
- :mod:`.views`: the review page's team side (each reviewer's own copy of the pairs, the lead's queue).

Without reviewers (no ``team.json``) nothing here is used: the page and the stage work as before.
"""
