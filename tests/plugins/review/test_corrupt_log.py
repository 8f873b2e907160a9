"""A corrupt middle line of the review log (review-imports/imports.jsonl) is one line naming
file:line for every command that reads it, never a traceback."""

import pytest

from vlkd.testing.fake_run import run_cli


@pytest.mark.parametrize("bad", [b"{not json", b'{"kind": "decision", "text": "\xe5\x88"}'])
def test_a_corrupt_review_log_line_is_named_by_serve_import_and_the_stage(review_run, capsys, bad):
    from vlkd.core.errors import StageError
    from vlkd.plugins.review.journal import log_path

    log = log_path(review_run.run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b'{"kind": "note"}\n' + bad + b'\n{"kind": "note"}\n')
    where = f"{log}:2: not valid JSON; fix or delete this line"

    code, out = run_cli(capsys, "review", "serve", str(review_run.run_dir), "--port", "0")
    assert code == 2 and where in out.replace("\n", "") and "Traceback" not in out
    sheet = review_run.run_dir / "review" / "review.csv"
    code, out = run_cli(capsys, "review", "import", str(review_run.run_dir), str(sheet))
    assert code == 2 and where in out.replace("\n", "") and "Traceback" not in out
    with pytest.raises(StageError, match=r"imports.jsonl:2: not valid JSON"):
        review_run.run()
