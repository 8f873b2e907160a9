"""A team review over real HTTP, request by request: keys, queues, blind review, adjudication, and
what one reviewer cannot do to another's work."""

import json

import httpx
import pytest

from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.review import journal
from vlkd.plugins.review.team.settle import LOG

pytest.importorskip("starlette")


class Member:
    """One reviewer's browser-like client: their key once, then the cookie; the page's CSRF token."""

    def __init__(self, server, key):
        self.c = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120)
        first = self.c.get(f"/?key={key}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/", first.text
        page = self.c.get("/")
        assert page.status_code == 200
        self.config = json.loads(page.text.split('type="application/json">', 1)[1].split("</script>", 1)[0])

    def queue(self, **params):
        return self.c.get("/api/queue", params=params).json()

    def image(self, n):
        return self.c.get(f"/api/image/{n}")

    def decide(self, n, pair, action, **fields):
        return self.c.post(
            f"/api/image/{n}/pair/{pair['id']}",
            json={"action": action, "base": pair["version"], **fields},
            headers={"X-CSRF-Token": self.config["csrf"]},
        )


def team_log(run):
    return journal.read_log(run.run_dir, name=LOG)[0]


def test_keys_open_the_page_once_then_a_cookie_and_a_revoked_key_is_refused(team_run, serve):
    from vlkd.plugins.review.team.admin import revoke

    server = serve(team_run.run_dir)
    base = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=base) as c:
        assert c.get("/").status_code == 401 and c.get("/api/queue").status_code == 401
        assert c.get("/img/0").status_code == 401
        assert c.get("/?key=guessed").status_code == 403
        assert c.get("/api/queue", headers={"Authorization": "Bearer guessed"}).status_code == 403
        first = c.get(f"/?key={team_run.keys['li']}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"  # the key leaves the URL
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and f"_{server.port}=" in cookie
        assert c.get("/").status_code == 200 and c.get("/api/queue").status_code == 200
        assert json.loads(c.get("/").text.split('type="application/json">', 1)[1].split("</script>")[0])[
            "team"
        ] == {"name": "li", "role": "reviewer", "blind": True}
        revoke(team_run.run_dir, "li")  # from another shell, while the server runs
        refused = c.get("/api/queue")
        assert refused.status_code == 403 and "revoked" in refused.text
        assert c.get(f"/?key={team_run.keys['li']}").status_code == 403
    wang = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {team_run.keys['wang']}"})
    assert wang.get("/api/queue").status_code == 200  # the others' keys still work
    # no key in clear anywhere in the run directory (team.json keeps SHA-256 hashes)
    blob = b"".join(p.read_bytes() for p in team_run.run_dir.rglob("*") if p.is_file())
    for key in team_run.keys.values():
        assert key.encode() not in blob
    stored = json.loads((team_run.run_dir / "review-imports" / "team.json").read_text())
    assert {r["name"] for r in stored["reviewers"]} == {"li", "wang", "zhao"}
    assert all(len(r["key_sha256"]) == 64 for r in stored["reviewers"])


def test_each_reviewer_sees_and_changes_only_their_own_queue(team_run, serve):
    server = serve(team_run.run_dir)
    li, wang = Member(server, team_run.keys["li"]), Member(server, team_run.keys["wang"])
    mine, theirs = set(li.queue()["images"]), set(wang.queue()["images"])
    assert mine | theirs == set(range(6))
    shared = mine & theirs
    assert len(shared) == 3  # overlap 2 on the riskiest half: ceil(0.5 * 6) images
    assert 4 in shared  # the image with the flagged pair is among the riskiest
    assert abs(len(mine) - len(theirs)) <= 1  # balanced
    only_wang = sorted(theirs - mine)[0]
    # li cannot read wang's image, its file, its pairs, or decide on them
    assert li.image(only_wang).status_code == 404
    assert li.c.get(f"/img/{only_wang}").status_code == 404
    assert li.c.get(f"/img/{sorted(mine)[0]}").status_code == 200
    pair = wang.image(only_wang).json()["pairs"][0]
    assert li.decide(only_wang, pair, "reject").status_code == 404
    assert li.queue(status="pending")["images"] == sorted(mine, key=lambda n: (n != 4, n))
    # a name typed into the request is not who decides: the key is
    n = sorted(mine)[0]
    own = li.image(n).json()["pairs"][0]
    assert li.decide(n, own, "approve", reviewer="zhao").status_code == 200
    assert [(e["reviewer"], e["kind"]) for e in team_log(team_run)] == [("li", "review")]
    audit = list(read_jsonl(team_run.run_dir / "review-imports" / "audit.jsonl"))
    assert audit[-1]["reviewer"] == "li" and audit[-1]["source"] == "team review"
    # a reviewer is no lead: no figures, no adding pairs
    assert li.c.get("/api/team/figures").status_code == 403
    added = li.c.post(
        f"/api/image/{n}/add",
        json={"question": "Q?", "answer": "A"},
        headers={"X-CSRF-Token": li.config["csrf"]},
    )
    assert added.status_code == 403
    # the lead's view is the lead's: a reviewer asking for it gets their own queue
    assert li.queue(view="settle")["images"] == li.queue()["images"]
    # a pair of another image named on one's own image is not found either
    other_pair = wang.image(only_wang).json()["pairs"][1]
    assert li.decide(n, other_pair, "approve").status_code == 404
    # wang's copy of the pair is untouched by li's decision
    if n in theirs:
        assert wang.image(n).json()["pairs"][0]["review"] == "pending"


def test_blind_review_hides_the_other_decision_until_both_decided(team_run, serve):
    server = serve(team_run.run_dir)
    li, wang = Member(server, team_run.keys["li"]), Member(server, team_run.keys["wang"])
    n = 4
    pair = li.image(n).json()["pairs"][0]
    assert li.decide(n, pair, "edit", answer="Li's secret correction.").status_code == 200
    seen = wang.image(n)
    assert "Li's secret correction." not in seen.text  # not even in the JSON
    first = seen.json()["pairs"][0]
    assert first["team"]["others_hidden"] == 1 and "others" not in first["team"]
    assert first["review"] == "pending" and first["answer"] == pair["answer"]
    r = wang.decide(n, first, "edit", answer="Li's secret correction.")  # the same, independently
    assert r.status_code == 200
    assert r.json()["pair"]["team"]["standing"] == "agreed"
    assert r.json()["pair"]["team"]["others"][0]["answer"] == "Li's secret correction."
    again = li.image(n).json()["pairs"][0]
    assert again["team"]["others"][0]["reviewer"] == "wang"
    # both decided: blind review keeps the first decisions as made (the figures rely on it)
    late = li.decide(n, again, "reject")
    assert late.status_code == 409 and "blind review" in late.json()["error"]


def test_a_disagreement_goes_to_the_lead_who_settles_it_with_both_originals_in_the_audit(team_run, serve):
    server = serve(team_run.run_dir)
    li, wang = Member(server, team_run.keys["li"]), Member(server, team_run.keys["wang"])
    lead = Member(server, team_run.keys["zhao"])
    assert lead.config["team"]["role"] == "lead"
    n = 4
    a, b = li.image(n).json()["pairs"], wang.image(n).json()["pairs"]
    assert li.decide(n, a[0], "approve").status_code == 200
    assert wang.decide(n, b[0], "reject").status_code == 200  # status differs: to the lead
    assert li.decide(n, a[1], "edit", answer="Torque: 35 N·m.").status_code == 200
    assert wang.decide(n, b[1], "edit", answer="torque 35 N·m").status_code == 200  # same after normalising
    settle = lead.queue(view="settle")
    assert settle["images"] == [n] and settle["progress"]["to_settle"] == 1
    assert len(lead.queue()["images"]) == 6  # a lead sees everything
    pairs = lead.image(n).json()["pairs"]
    disputed = next(p for p in pairs if p["id"] == a[0]["id"])
    agreed = next(p for p in pairs if p["id"] == a[1]["id"])
    assert disputed["team"]["standing"] == "disagree" and agreed["team"]["standing"] == "agreed"
    assert {o["reviewer"]: o["review"] for o in disputed["team"]["others"]} == {
        "li": "approved",
        "wang": "rejected",
    }
    assert disputed["team"]["teacher"]["answer"] == a[0]["answer"]
    r = lead.decide(n, disputed, "edit", answer="The lead's final answer.")
    assert r.status_code == 200 and r.json()["pair"]["team"]["standing"] == "adjudicated"
    assert lead.queue(view="settle")["images"] == []
    entry = team_log(team_run)[-1]
    assert entry["kind"] == "adjudication" and entry["reviewer"] == "zhao"
    assert (
        entry["originals"]["li"]["review"] == "approved"
        and entry["originals"]["wang"]["review"] == "rejected"
    )
    assert entry["teacher"]["answer"] == a[0]["answer"]
    audit = list(read_jsonl(team_run.run_dir / "review-imports" / "audit.jsonl"))[-1]
    assert audit["kind"] == "adjudication" and set(audit["originals"]) == {"li", "wang"}
    # the reviewers now see the lead's word
    assert li.image(n).json()["pairs"][0]["team"]["final"]["answer"] == "The lead's final answer."
    # the lead's figures
    figures = lead.c.get("/api/team/figures").json()
    assert figures["overall"]["pairs"] == 2 and figures["overall"]["observed"] == 0.5
    assert figures["per_reviewer"]["li"]["with_result"] == 0.5  # agreed pair yes, adjudicated pair no
    assert figures["adjudicated"] == 1


def test_csrf_host_check_and_conflicts_still_hold_with_keys(team_run, serve):
    server = serve(team_run.run_dir)
    li = Member(server, team_run.keys["li"])
    n = li.queue()["images"][0]
    pair = li.image(n).json()["pairs"][0]
    url = f"/api/image/{n}/pair/{pair['id']}"
    body = {"action": "reject", "base": pair["version"]}
    assert li.c.post(url, json=body).status_code == 403  # no CSRF token, a valid key
    evil = {"X-CSRF-Token": li.config["csrf"], "Origin": "http://evil.example"}
    assert li.c.post(url, json=body, headers=evil).status_code == 403
    with httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}",
        headers={"Host": "evil.example", "Authorization": f"Bearer {team_run.keys['li']}"},
    ) as rebinding:
        assert rebinding.get("/api/queue").status_code == 403
    assert team_log(team_run) == []
    # a second tab of the same reviewer, on a version that is no longer theirs: refused, theirs shown
    assert li.decide(n, pair, "edit", answer="First tab.").status_code == 200
    stale = li.decide(n, pair, "edit", answer="Second tab.")
    assert stale.status_code == 409 and stale.json()["pair"]["answer"] == "First tab."


def test_without_a_team_the_page_needs_no_key_on_loopback(review_run, serve):
    server = serve(review_run.run_dir)
    assert server.team is None
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
        assert c.get("/").status_code == 200 and c.get("/api/queue").status_code == 200
        assert c.get("/api/team/figures").status_code == 404


def test_on_another_host_the_keys_are_the_guard_and_no_shared_token_is_made(team_run, serve):
    server = serve(team_run.run_dir, host="0.0.0.0")
    assert server.guard.token is None and "?token=" not in server.url
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
        assert c.get("/api/queue").status_code == 401
        assert (
            c.get("/api/queue", headers={"Authorization": f"Bearer {team_run.keys['wang']}"}).status_code
            == 200
        )


def test_a_shared_token_beside_the_keys_is_refused_with_one_line(team_run, serve):
    from vlkd.core.errors import VlkdError

    with pytest.raises(VlkdError, match="this run has a review team: each reviewer's key guards the page"):
        serve(team_run.run_dir, token="s3cret")


def test_the_team_queue_keeps_the_stores_risk_order_after_decisions(team_run, serve):
    """The team's queues come in the order the store keeps for a single reviewer (riskiest first,
    then file order; computed once per set of pairs, not per request), the same after a decision
    and after the lead adds a pair (a new set of pairs: the order is computed again)."""
    server = serve(team_run.run_dir)
    li, zhao = Member(server, team_run.keys["li"]), Member(server, team_run.keys["zhao"])
    assert zhao.queue()["images"] == [4, 0, 1, 2, 3, 5]  # image 4 has the flagged pair
    assert zhao.queue(order="file")["images"] == [0, 1, 2, 3, 4, 5]
    mine = li.queue()["images"]
    assert mine == sorted(mine, key=lambda n: (n != 4, n)) and 4 in mine
    n = mine[-1]
    assert li.decide(n, li.image(n).json()["pairs"][0], "approve").status_code == 200
    assert li.queue()["images"] == mine and zhao.queue()["images"] == [4, 0, 1, 2, 3, 5]
    added = zhao.c.post(
        "/api/image/5/add",
        json={"question": "Q?", "answer": "A"},
        headers={"X-CSRF-Token": zhao.config["csrf"]},
    )
    assert added.status_code == 201, added.text
    assert zhao.queue()["images"] == [4, 0, 1, 2, 3, 5] and li.queue()["images"] == mine
    assert zhao.queue(status="pending")["images"] == [4, 0, 1, 2, 3, 5]
