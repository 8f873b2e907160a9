"""A ``vlkd run`` rewrites the pairs while a team's ``vlkd review serve`` is open (verify ran
again): the lead and the reviewers see the new pairs and the new risk order, the decisions made
before are kept, and a decision about a pair the run dropped says so."""

from vlkd.api import QARecord
from vlkd.core.jsonl import read_jsonl, write_jsonl_atomic

from .test_team_api import Member, team_log

FLAG = {"check": "ocr_grounding", "flag": "ungrounded", "reason": "not on the page"}


def test_a_team_server_follows_a_run_that_rewrites_its_pairs(team_run, serve):
    pairs_file = team_run.run_dir / "teach" / "pairs.jsonl"
    old = list(read_jsonl(pairs_file))
    server = serve(team_run.run_dir)
    li, zhao = Member(server, team_run.keys["li"]), Member(server, team_run.keys["zhao"])
    assert zhao.queue()["images"] == [4, 0, 1, 2, 3, 5] and zhao.queue()["progress"]["total"] == 12
    n = li.queue()["images"][0]
    dropped, kept = li.image(n).json()["pairs"]
    assert li.decide(n, kept, "approve").status_code == 200  # decided before the run

    # verify kept one pair fewer on image n, found one new there, doubts two pairs of image 2,
    # and reworded the others (every offset after the first line moves)
    image_id = next(p["image_id"] for p in old if p["id"] == kept["id"])
    new_question = "A question verify found?"
    new = [{**p, "question": "更长的问题：" + p["question"]} for p in old if p["id"] != dropped["id"]]
    found = {**next(p for p in new if p["id"] == kept["id"]), "question": new_question}
    new.append({**found, "id": QARecord.make_id(image_id, new_question)})
    for p in new:
        if p["image_id"] == old[4]["image_id"]:
            p["flags"] = [FLAG]
    write_jsonl_atomic(pairs_file, new)

    # the lead: the new risk order (image 2 has two doubted pairs now; image 4 lost its doubted
    # one, the pair dropped), the new pairs
    assert n == 4 and dropped["flags"]
    queue = zhao.queue()
    assert queue["images"] == [2, 0, 1, 3, 4, 5] and queue["progress"]["total"] == 12
    shown = zhao.image(n).json()["pairs"]
    assert {p["id"] for p in shown} == {kept["id"], new[-1]["id"]}
    other = next(m for m in queue["images"] if m != n)
    assert all(p["question"].startswith("更长的问题") for p in zhao.image(other).json()["pairs"])
    # the reviewer: the same pairs on their image, their decision kept, the new pair to decide
    assert n in li.queue()["images"]
    mine = {p["id"]: p for p in li.image(n).json()["pairs"]}
    assert set(mine) == {kept["id"], new[-1]["id"]}
    assert mine[kept["id"]]["review"] == "approved" and mine[new[-1]["id"]]["review"] == "pending"
    # li's approval now applies to the run's new text, as after a restart of the server
    assert mine[kept["id"]]["question"] == "更长的问题：" + kept["question"]
    assert li.decide(n, mine[new[-1]["id"]], "reject").status_code == 200
    # a decision typed on the pair the run dropped: refused, saying why, nothing written
    r = li.decide(n, dropped, "reject")
    assert r.status_code == 404 and "the run changed" in r.json()["error"], r.text
    assert "reload the page" in r.json()["error"]
    assert [(e["reviewer"], e["pair_id"], e["action"]) for e in team_log(team_run)] == [
        ("li", kept["id"], "approve"),
        ("li", new[-1]["id"], "reject"),
    ]
