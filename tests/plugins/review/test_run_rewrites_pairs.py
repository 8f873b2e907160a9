"""A ``vlkd run`` rewrites the pairs while ``vlkd review serve`` is open (verify run again): the
page gets no 500, sees the new pairs, and a decision about a pair that is gone says so."""

from vlkd.core.jsonl import read_jsonl, write_jsonl_atomic

from .test_web_api import client, csrf, decide


def test_the_server_follows_a_run_that_rewrites_its_pairs(review_run, serve):
    pairs_file = review_run.run_dir / "teach" / "pairs.jsonl"
    old = list(read_jsonl(pairs_file))
    first, second = serve(review_run.run_dir), serve(review_run.run_dir)  # two servers, one run
    with client(first) as a, client(second) as b:
        token = csrf(a)
        assert a.get("/api/queue").json()["progress"]["total"] == 9
        assert b.get("/api/queue").json()["progress"]["total"] == 9
        n = a.get("/api/queue").json()["images"][0]
        shown = a.get(f"/api/image/{n}").json()["pairs"]

        # the run starts the stage over: its folder is emptied, then the new file is written
        pairs_file.unlink()
        during = a.get(f"/api/image/{n}")
        assert during.status_code == 200 and during.json()["pairs"] == shown  # the old ones, whole

        # verify kept fewer pairs, with longer texts (every offset after the first line moves)
        gone = {p["id"] for p in shown[:1]}
        new = [{**p, "question": "更长的问题：" + p["question"]} for p in old if p["id"] not in gone]
        write_jsonl_atomic(pairs_file, new)
        for c in (a, b):
            queue = c.get("/api/queue")
            assert queue.status_code == 200 and queue.json()["progress"]["total"] == 8
            for m in queue.json()["images"]:
                image = c.get(f"/api/image/{m}")
                assert image.status_code == 200
                assert all(p["question"].startswith("更长的问题") for p in image.json()["pairs"])
        # the expert typed a correction of a pair the run dropped: refused, saying why (the
        # page keeps the typed text in its card), not a 500
        r = decide(a, token, n, shown[0], "edit", answer="typed by the expert")
        assert r.status_code == 404 and "the run changed" in r.json()["error"]
        assert "reload the page" in r.json()["error"]
        # and one it kept, whose text the run changed: a conflict showing the run's version
        r = decide(a, token, n, shown[1], "edit", answer="typed by the expert")
        assert r.status_code == 409 and r.json()["pair"]["question"].startswith("更长的问题")
