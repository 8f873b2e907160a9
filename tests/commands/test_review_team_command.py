"""`vlkd review add-reviewer / revoke-reviewer / reviewers` and `serve --reviewers`, as a user runs them."""

import json
import re
import urllib.request

from vlkd.testing.fake_run import FakeRun, make_images, make_pairs, run_cli

from .test_review_command import _serving


def _run(tmp_path):
    images = make_images(tmp_path / "images", 2)
    run = FakeRun(tmp_path, {"review": {"plugin": "spreadsheet"}}, images, make_pairs(images, 1))
    run.run()
    return run


def test_add_reviewer_prints_a_link_once_and_keeps_only_a_hash(tmp_path, capsys):
    run = _run(tmp_path)
    code, text = run_cli(capsys, "review", "add-reviewer", str(run.run_dir), "li", "--role", "lead")
    assert code == 0, text
    found = re.search(r"li \(lead\): http://127\.0\.0\.1:8765/\?key=([\w-]{40,})", text)
    assert found and "shown once" in text, text
    key = found.group(1)
    assert not any(key.encode() in p.read_bytes() for p in run.run_dir.rglob("*") if p.is_file())
    code, text = run_cli(capsys, "review", "add-reviewer", str(run.run_dir), "li")  # a new link
    assert code == 0 and "their previous link no longer works" in text
    assert key not in text
    code, text = run_cli(capsys, "review", "revoke-reviewer", str(run.run_dir), "li")
    assert code == 0 and "li: key revoked; their decisions are kept." in text
    code, text = run_cli(capsys, "review", "reviewers", str(run.run_dir))
    assert code == 0 and re.search(r"li\s+reviewer\s+revoked", text), text
    code, text = run_cli(capsys, "review", "revoke-reviewer", str(run.run_dir), "zhang")
    assert code == 2 and "no reviewer 'zhang' in this run (reviewers: li)" in text
    code, text = run_cli(capsys, "review", "add-reviewer", str(run.run_dir), "wang", "--role", "boss")
    assert code == 2 and "--role boss: use one of reviewer, lead" in text and "Traceback" not in text


def test_a_bad_reviewers_file_is_named_at_its_line_and_changes_nothing(tmp_path, capsys):
    run = _run(tmp_path)
    bad = tmp_path / "reviewers.yaml"
    bad.write_text("overlap: 2\nreviewers:\n  - name: li\n    role: boss\n", encoding="utf-8")
    code, text = run_cli(capsys, "review", "serve", str(run.run_dir), "--reviewers", str(bad))
    assert code == 2 and f"{bad}:4:5: reviewers.0.role: Input should be 'reviewer' or 'lead'" in text, text
    bad.write_text("overlap: 2\nreviewers:\n  - {name: li}\n  - {name: zhao, role: lead}\n", encoding="utf-8")
    code, text = run_cli(capsys, "review", "serve", str(run.run_dir), "--reviewers", str(bad))
    assert code == 2 and "overlap 2 needs at least 2 active reviewers with role reviewer (has 1: li)" in text
    assert not (run.run_dir / "review-imports" / "team.json").exists()
    good = tmp_path / "good.yaml"
    good.write_text("reviewers:\n  - {name: li}\n", encoding="utf-8")
    code, text = run_cli(
        capsys, "review", "serve", str(run.run_dir), "--reviewers", str(good), "--token", "t"
    )
    assert code == 2 and "leave out --token" in text
    assert not (run.run_dir / "review-imports" / "team.json").exists()  # no key that nobody saw


def test_serve_with_reviewers_prints_each_link_and_each_key_opens_its_queue(tmp_path):
    team = tmp_path / "reviewers.yaml"
    team.write_text(
        "overlap: 2\nblind: true\nreviewers:\n  - {name: li}\n  - {name: wang}\n  - {name: zhao, role: lead}\n",
        encoding="utf-8",
    )
    rest = []
    with _serving(tmp_path, 2, "--reviewers", str(team), lines=8, rest=rest) as text:
        assert text.startswith("team review: 2 reviewer(s), 1 lead(s); overlap 2 on 100% of the images"), text
        links = dict(re.findall(r"(\w+) \((?:reviewer|lead)\): (http://\S+\?key=\S+)", text))
        assert set(links) == {"li", "wang", "zhao"}, text
        assert "each reviewer opens their own link" in text
        port = re.search(r":(\d+)/", links["li"]).group(1)
        for name, link in links.items():
            key = link.split("key=")[1]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/queue", headers={"Authorization": f"Bearer {key}"}
            )
            with urllib.request.urlopen(request) as response:
                assert response.status == 200, name
                assert len(json.loads(response.read())["images"]) == 1, name
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            with browser.open(link) as response:  # the first visit: ?key=, then the cookie
                assert response.status == 200 and response.url.endswith(":" + port + "/"), name
    # each key was printed once, in its link, and in no line the server wrote while serving
    for link in links.values():
        key = link.split("key=")[1]
        assert (text + rest[0]).count(key) == 1, rest[0][-2000:]
