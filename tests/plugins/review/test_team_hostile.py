"""A team review against a hostile or clumsy team: names that look like someone else's (zero-width,
direction marks, NFC/NFD twins) or like a formula, and a blind review that must not tell an
undecided reviewer that the others disagree."""

import unicodedata

import httpx
import pytest

from tests.plugins.review.test_team_api import Member

pytest.importorskip("starlette")


@pytest.mark.parametrize(
    "name, why",
    [
        ("li\u200b", "invisible"),  # zero-width space: looks like li
        ("\u202eil", "invisible"),  # right-to-left override: shows as li
        ("li\u2066", "invisible"),  # a direction isolate
        ("=SUM(A1:A9)", "formula"),
        ("+1-1", "formula"),
        ("@li", "formula"),
        ("-li", "formula"),
        ("li|wang", "|"),  # would split a row of the report's tables
        ("\u3000li", "white"),  # ideographic space
    ],
)
def test_a_name_that_looks_like_another_or_a_formula_is_refused_with_one_line(tmp_path, name, why):
    from vlkd.api import VlkdError
    from vlkd.plugins.review.team.roster import Team, TeamSettings

    team = Team(tmp_path, TeamSettings(), {})
    with pytest.raises(VlkdError) as exc:
        team.add(name, "reviewer")
    message = str(exc.value)
    assert len(message.splitlines()) == 1 and "reviewer" in message
    assert not team.reviewers


def test_nfc_and_nfd_twins_are_one_reviewer(tmp_path):
    """ "José" typed on two keyboards: one composed é, one e + combining accent."""
    from vlkd.plugins.review.team.roster import Team, TeamSettings

    nfc, nfd = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    team = Team(tmp_path, TeamSettings(), {})
    first = team.add(nfc, "reviewer")
    second = team.add(nfd, "reviewer")  # a new key for the same person
    assert list(team.reviewers) == [nfc]
    assert team.find(second).name == nfc and team.find(first) is None
    assert team.add("李明", "reviewer") and "李明" in team.reviewers  # names in any script stay welcome


def test_a_reviewers_file_with_twins_names_the_file_and_the_name(tmp_path):
    from vlkd.api import VlkdError
    from vlkd.plugins.review.team.roster import read_reviewers_file

    path = tmp_path / "reviewers.yaml"
    nfc, nfd = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    path.write_text(f"reviewers:\n  - {{name: {nfc}}}\n  - {{name: {nfd}}}\n", encoding="utf-8")
    with pytest.raises(VlkdError) as exc:
        read_reviewers_file(path)
    assert str(exc.value) == f"{path}: reviewer '{nfc}' is listed twice; give each reviewer one line"


def test_blind_review_with_three_never_tells_the_third_that_the_first_two_disagree(team_run, serve):
    from vlkd.plugins.review.team.roster import Team, TeamSettings

    team = Team.load(team_run.run_dir)
    team.settings = TeamSettings(overlap=3, overlap_share=1.0, blind=True)
    keys = dict(team_run.keys, chen=team.add("chen", "reviewer"))
    team.save()
    server = serve(team_run.run_dir)
    li, wang, chen = (Member(server, keys[n]) for n in ("li", "wang", "chen"))
    n = 4
    pair = li.image(n).json()["pairs"][0]
    assert li.decide(n, pair, "approve").status_code == 200
    assert wang.decide(n, wang.image(n).json()["pairs"][0], "reject").status_code == 200
    seen = chen.image(n).json()["pairs"][0]["team"]
    assert seen["others_hidden"] == 2 and "others" not in seen
    assert seen["standing"] not in ("disagree", "agreed")  # how many decided, never what
    assert chen.queue()["progress"]["to_settle"] == 0
    # the lead sees the disagreement at once
    zhao = httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {keys['zhao']}"}
    )
    assert zhao.get(f"/api/image/{n}").json()["pairs"][0]["team"]["standing"] == "disagree"
    # once chen decided too, chen sees it all
    after = chen.decide(n, chen.image(n).json()["pairs"][0], "approve").json()["pair"]["team"]
    assert after["standing"] == "disagree" and len(after["others"]) == 2


def test_a_tab_left_open_when_its_key_is_revoked_says_so(team_run, serve):
    """The page's calls read JSON: a revoked key's refusal was plain text, and the expert saw "403"."""
    from vlkd.plugins.review.team.admin import revoke

    server = serve(team_run.run_dir)
    li = Member(server, team_run.keys["li"])
    n = li.queue()["images"][0]
    pair = li.image(n).json()["pairs"][0]
    revoke(team_run.run_dir, "li")  # the lead, in another shell
    refused = li.decide(n, pair, "approve")
    assert refused.status_code == 403
    assert refused.json() == {"error": "this reviewer's key was revoked; ask your lead for a new link"}
    assert li.c.get("/api/queue").json()["error"].startswith("this reviewer's key was revoked")
    # a link opened in the browser still reads as text
    page = httpx.get(f"http://127.0.0.1:{server.port}/?key={team_run.keys['li']}")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/plain")
    nokey = httpx.get(f"http://127.0.0.1:{server.port}/api/queue")
    assert nokey.status_code == 401 and "your own link" in nokey.json()["error"]
