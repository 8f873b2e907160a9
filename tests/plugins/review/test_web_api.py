"""The review server over real HTTP: decisions saved as made, conflicts refused, and its defences."""

import http.client
import json

import httpx
import pytest

from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.review import journal

from .conftest import XSS


def client(server, **kwargs):
    return httpx.Client(base_url=f"http://127.0.0.1:{server.port}", **kwargs)


def csrf(c):
    page = c.get("/").text
    config = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])
    return config["csrf"]


def decide(c, token, n, pair, action, **fields):
    return c.post(
        f"/api/image/{n}/pair/{pair['id']}",
        json={"action": action, "base": pair["version"], **fields},
        headers={"X-CSRF-Token": token},
    )


def first_image(c):
    n = c.get("/api/queue").json()["images"][0]
    return n, c.get(f"/api/image/{n}").json()


def test_decisions_are_logged_with_reviewer_time_before_after_and_applied_by_the_next_run(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        token = csrf(c)
        queue = c.get("/api/queue").json()
        assert queue["images"][0] == 1  # risk first: the image with the flagged pair
        assert queue["progress"]["total"] == 9 and queue["progress"]["reviewed"] == 0
        n, image = first_image(c)
        assert image["brand"] == "比亚迪" and image["vehicle_model"] == "Qin Plus"
        flagged, second, third = image["pairs"]
        assert flagged["flags"][0]["flag"] == "ungrounded"  # flagged pair first
        assert flagged["provenance"] == {"plugin": "seeded", "model": None}
        r = decide(c, token, n, flagged, "approve", reviewer="李工")
        assert r.status_code == 200 and r.json()["pair"]["review"] == "approved"
        assert r.json()["progress"]["reviewed"] == 1
        r = decide(c, token, n, second, "edit", answer="Corrected answer.")
        assert r.json()["pair"]["review"] == "edited"
        assert decide(c, token, n, third, "reject").json()["pair"]["review"] == "rejected"
    log = [e for e in journal.read_log(review_run.run_dir)[0]]
    assert [e["action"] for e in log] == ["approve", "edit", "reject"]
    audit = list(read_jsonl(review_run.run_dir / "review-imports" / "audit.jsonl"))
    assert audit[0]["reviewer"] == "李工" and audit[1]["reviewer"] == "tester" and audit[0]["time"]
    assert audit[1]["before"] == {"answer": second["answer"], "review": "pending"}
    assert audit[1]["after"] == {"answer": "Corrected answer.", "review": "edited"}
    # the next plain run applies them by itself: review and split re-run
    manifest = review_run.run()
    assert manifest["status"] == "done" and manifest["stages"]["split"]["status"] == "done"
    kept = {p["id"]: p for p in read_jsonl(review_run.run_dir / "review" / "pairs.jsonl")}
    assert set(kept) == {flagged["id"], second["id"]} and kept[second["id"]]["answer"] == "Corrected answer."
    stage_audit = list(read_jsonl(review_run.run_dir / "review" / "audit.jsonl"))
    assert {a["reviewer"] for a in stage_audit} == {"李工", "tester"}
    assert review_run.run()["stages"]["review"]["started"] == manifest["stages"]["review"]["started"]


def test_a_stale_edit_is_refused_with_a_clear_message(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as one, client(server) as two:
        t1, t2 = csrf(one), csrf(two)
        n, image = first_image(one)
        _, seen_by_two = first_image(two)  # both load the same version
        pair = image["pairs"][1]
        assert decide(one, t1, n, pair, "edit", answer="Expert one.", reviewer="one").status_code == 200
        stale = decide(two, t2, n, seen_by_two["pairs"][1], "edit", answer="Expert two.", reviewer="two")
        assert stale.status_code == 409
        assert "changed by one after you loaded it; your change was not saved" in stale.json()["error"]
        assert stale.json()["pair"]["answer"] == "Expert one."  # the page can show what won
    entries = journal.read_log(review_run.run_dir)[0]
    assert [e["after"].get("answer") for e in entries] == ["Expert one."]


def test_two_servers_on_one_run_see_each_others_decisions(review_run, serve):
    a, b = serve(review_run.run_dir), serve(review_run.run_dir)
    with client(a) as ca, client(b) as cb:
        ta, tb = csrf(ca), csrf(cb)
        n, image = first_image(ca)
        pair = image["pairs"][0]
        assert decide(ca, ta, n, pair, "reject").status_code == 200
        assert decide(cb, tb, n, pair, "approve").status_code == 409  # b's copy was stale
        fresh = cb.get(f"/api/image/{n}").json()["pairs"][0]
        assert decide(cb, tb, n, fresh, "approve").status_code == 200  # after catching up
        assert cb.get(f"/api/image/{n}").json()["pairs"][0]["review"] == "approved"


def test_a_torn_last_line_is_repaired_and_nothing_saved_is_lost(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        token = csrf(c)
        n, image = first_image(c)
        assert decide(c, token, n, image["pairs"][0], "approve").status_code == 200
        with journal.log_path(review_run.run_dir).open("ab") as fh:
            fh.write(b'{"kind": "decision", "action": "rej')  # a writer killed mid-line
        assert decide(c, token, n, image["pairs"][1], "reject").status_code == 200
    entries = journal.read_log(review_run.run_dir)[0]
    assert [e["action"] for e in entries] == ["approve", "reject"]
    server.stop()
    again = serve(review_run.run_dir)  # a restarted server shows what was saved
    with client(again) as c:
        pairs = c.get(f"/api/image/{n}").json()["pairs"]
        assert [p["review"] for p in pairs[:2]] == ["approved", "rejected"]


def test_bad_decisions_are_refused_and_nothing_is_logged(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        token = csrf(c)
        n, image = first_image(c)
        pair = image["pairs"][0]
        assert decide(c, token, n, pair, "edit", answer="   ").status_code == 400
        assert decide(c, token, n, pair, "explode").status_code == 400
        assert decide(c, token, n, pair, "edit", negative="false").status_code == 400  # not a boolean
        assert decide(c, token, n, {**pair, "version": None}, "approve").status_code == 400
        assert decide(c, token, n, pair, "edit", answer="x" * 20_001).status_code == 400
        huge = c.post(
            f"/api/image/{n}/add",
            content=b" " * (2 << 20),
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert huge.status_code == 413
        assert decide(c, token, n, {**pair, "id": "nope"}, "approve").status_code == 404
        assert (
            c.post(
                "/api/image/0/pair/x",
                content=b"not json",
                headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
            ).status_code
            == 400
        )
        added = c.post(
            f"/api/image/{n}/add",
            json={"question": "新问题？", "answer": "新答案", "negative": False},
            headers={"X-CSRF-Token": token},
        )
        assert added.status_code == 201 and added.json()["pair"]["provenance"]["model"] == "expert"
        again = c.post(
            f"/api/image/{n}/add",
            json={"question": "新问题？", "answer": "x"},
            headers={"X-CSRF-Token": token},
        )
        assert again.status_code == 409
    assert [e["action"] for e in journal.read_log(review_run.run_dir)[0]] == ["add"]


@pytest.mark.parametrize(
    "path",
    [
        "/img/../../../../etc/passwd",
        "/img/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/img/..%2f..%2fmanifest.json",
        "/img//etc/passwd",
        "/img/%2Fetc%2Fpasswd",
        "/img/99",
        "/img/-1",
        "/static/..%2f..%2fserver.py",
        "/static/../app.py",
        "/../manifest.json",
        "/img/0/../../manifest.json",
    ],
)
def test_traversal_attempts_get_404(review_run, serve, path):
    server = serve(review_run.run_dir)
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", path)  # sent as is, not normalised by a client library
    response = conn.getresponse()
    body = response.read()
    assert response.status == 404, (path, body[:200])
    assert b"root:" not in body and b"recipe" not in body


def test_images_are_served_only_from_the_runs_image_records(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        r = c.get("/img/0")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content == (review_run.tmp_path / "images" / "page_000.png").read_bytes()


def test_teacher_text_never_reaches_the_html(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        page = c.get("/")
        assert XSS not in page.text and "onerror" not in page.text  # text only arrives as JSON
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert (
            page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        )
        data = c.get("/api/image/0").json()
        assert data["pairs"][0]["answer"] == XSS  # kept exactly; the page shows it as text


def test_state_changes_need_the_csrf_token_and_this_origin(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        token = csrf(c)
        n, image = first_image(c)
        pair = image["pairs"][0]
        url = f"/api/image/{n}/pair/{pair['id']}"
        body = {"action": "reject", "base": pair["version"]}
        assert c.post(url, json=body).status_code == 403  # no token
        assert c.post(url, json=body, headers={"X-CSRF-Token": "guess"}).status_code == 403
        evil = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
        assert c.post(url, json=body, headers=evil).status_code == 403
        cross = {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
        assert c.post(url, json=body, headers=cross).status_code == 403
        form = {"X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"}
        assert c.post(url, content=b"action=reject", headers=form).status_code == 403
    assert journal.read_log(review_run.run_dir)[0] == []


def test_a_foreign_host_name_is_refused_on_localhost(review_run, serve):
    server = serve(review_run.run_dir)  # DNS rebinding: evil.example resolving to 127.0.0.1
    with client(server, headers={"Host": "evil.example"}) as c:
        assert c.get("/").status_code == 403 and c.get("/api/queue").status_code == 403


def test_any_other_host_needs_the_token(review_run, serve):
    server = serve(review_run.run_dir, host="0.0.0.0")
    token = server.guard.token
    assert token and f"?token={token}" in server.url
    with client(server) as c:
        assert c.get("/").status_code == 401
        assert c.get("/api/queue").status_code == 401
        assert c.get("/img/0").status_code == 401
        assert c.get("/?token=wrong").status_code == 403
        assert c.get("/api/queue", headers={"Authorization": "Bearer wrong"}).status_code == 403
        first = c.get(f"/?token={token}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"  # token leaves the URL
        assert "httponly" in first.headers["set-cookie"].lower()
        assert "samesite=strict" in first.headers["set-cookie"].lower()
        assert c.get("/").status_code == 200  # the cookie now
        assert c.get("/api/queue").status_code == 200
    with client(server) as other:
        assert other.get("/api/queue", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_token_given_on_localhost_is_required_too(review_run, serve):
    server = serve(review_run.run_dir, token="s3cret")
    with client(server) as c:
        assert c.get("/").status_code == 401
        assert c.get("/?token=s3cret", follow_redirects=True).status_code == 200  # cookie set


def test_a_sheet_imported_while_serving_is_seen_and_wins_over_a_stale_page(review_run, serve, tmp_path):
    import csv

    from vlkd.plugins.review.imports import import_review_file

    server = serve(review_run.run_dir)
    with client(server) as c:
        token = csrf(c)
        n, image = first_image(c)
        pair = image["pairs"][1]
        with (review_run.run_dir / "review" / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            if row["pair_id"] == pair["id"]:
                row["answer"] = "From the sheet."
        sheet = tmp_path / "back.csv"
        with sheet.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        assert import_review_file(review_run.run_dir, sheet)["changes"] == 1
        stale = decide(c, token, n, pair, "edit", answer="From the page.")
        assert stale.status_code == 409 and stale.json()["pair"]["answer"] == "From the sheet."
        assert "back.csv" in stale.json()["error"]  # says what changed it
        shown = c.get(f"/api/image/{n}").json()["pairs"][1]
        assert shown["answer"] == "From the sheet." and shown["review"] == "edited"


def test_a_pairs_line_that_is_not_a_pair_is_named_before_serving(review_run):
    from vlkd.core.errors import VlkdError
    from vlkd.plugins.review.web.store import ReviewStore

    pairs = review_run.run_dir / "teach" / "pairs.jsonl"
    lines = pairs.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[1])
    del bad["question"]
    lines[1] = json.dumps(bad, ensure_ascii=False)
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        VlkdError, match=r"pairs\.jsonl:2: not a question/answer record \(question: Field required\)"
    ):
        ReviewStore(review_run.run_dir)


def test_a_decision_edited_by_hand_into_nonsense_is_named(review_run):
    from vlkd.core.errors import VlkdError
    from vlkd.plugins.review.web.store import ReviewStore

    store = ReviewStore(review_run.run_dir)
    n = store.queue({})[0]
    pair = store.image_json(n)["pairs"][0]
    store.decide(n, pair["id"], "approve", {}, base=pair["version"], reviewer="tester")
    log = journal.log_path(review_run.run_dir)
    entry = json.loads(log.read_text(encoding="utf-8"))
    entry["after"]["review"] = "maybe"  # a hand edit
    log.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    expected = rf"review log: approve of pair {pair['id']} by tester: review: Input should be"
    with pytest.raises(VlkdError, match=expected):
        ReviewStore(review_run.run_dir)
    with pytest.raises(VlkdError, match=expected):  # the review stage says the same
        review_run.run()


def test_the_negative_flag_follows_an_answer_edited_on_the_page(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        token, (n, image) = csrf(c), first_image(c)
        pair = image["pairs"][1]
        assert pair["negative"] is False
        # the page sends the flag only when the expert ticked it: untouched, it follows the answer
        made_negative = decide(c, token, n, pair, "edit", answer="不存在").json()["pair"]
        assert made_negative["negative"] is True
        answered = decide(c, token, n, made_negative, "edit", answer="15400-PLM-A02").json()["pair"]
        assert answered["negative"] is False and answered["review"] == "edited"
        # an old page that sends the flag it showed, unchanged, gets the same
        again = decide(c, token, n, answered, "edit", answer="不存在", negative=False).json()["pair"]
        assert again["negative"] is True
        # a flag the expert changed must agree with the answer
        refused = decide(c, token, n, image["pairs"][2], "edit", answer="A real answer", negative=True)
        assert refused.status_code == 400 and "negative is true but the answer" in refused.json()["error"]
        added = c.post(
            f"/api/image/{n}/add",
            json={"question": "有签名吗?", "answer": "不存在", "negative": False},
            headers={"X-CSRF-Token": token},
        )
        assert added.status_code == 201 and added.json()["pair"]["negative"] is True


def test_the_page_says_what_the_last_run_decided(fake_run, serve, tmp_path):
    """The demo: the recipe's edits file adds pairs and auto-approval approves the rest; the page
    counts only its own decisions, and says what the run decided beside them."""
    edits = tmp_path / "edits.csv"
    edits.write_text(
        "pair_id,image,question,answer,status\n,page_000.png,Which light?,ABS,approved\n", encoding="utf-8"
    )
    run = fake_run(
        {"review": {"plugin": "spreadsheet", "auto_approve": True, "edits": str(edits)}}, n_images=2
    )
    run.run()
    server = serve(run.run_dir)
    with client(server) as c:
        progress = c.get("/api/queue").json()["progress"]
    assert progress["reviewed"] == 0 and progress["total"] == 4
    assert progress["last_run"].startswith(
        "the last run's review: 5 approved of 5 pairs (1 added by edits.csv; 4 auto-approved (review.auto_approve))"
    )


def _config(page: str) -> dict:
    return json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])


def test_the_page_carries_its_first_queue_and_image_and_the_image_element(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        page = c.get("/").text
        config = _config(page)
        queue = c.get("/api/queue").json()
        n = queue["images"][0]
        # what the page would have asked for first, byte for byte the API's answers
        assert config["initial"]["queue"] == queue
        assert config["initial"]["image"] == c.get(f"/api/image/{n}").json()
        # the image is in the HTML (the browser asks for it while it reads the page), not set by script
        assert f'<img id="image" alt="" draggable="false" src="/img/{n}" fetchpriority="high">' in page


def test_the_page_carries_only_the_first_page_of_a_long_queue(review_run, serve, monkeypatch):
    from vlkd.plugins.review.web import app

    monkeypatch.setattr(app, "FIRST_PAGE", 2)
    server = serve(review_run.run_dir)
    with client(server) as c:
        config = _config(c.get("/").text)
        queue = c.get("/api/queue").json()
    assert len(queue["images"]) == 3
    assert config["initial"]["queue"]["images"] == queue["images"][:2]
    assert config["initial"]["queue"]["total"] == 3
