"""The review stage of a team review: settled pairs only (require_agreement), the lead's word final,
both originals in the audit, agreement figures in the facts and the report."""

import json

import pytest

from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.review.team.roster import Team
from vlkd.plugins.review.team.views import TeamViews
from vlkd.plugins.review.web.store import ReviewStore


def decide_all(views, name, verdict):
    """``name`` decides every pair of their queue: verdict(pair) -> (action, fields)."""
    who = views.team.reviewers[name]
    for n in views.queue(who, {}, "risk", ""):
        for shown in views.image_json(who, n, {})["pairs"]:
            action, fields = verdict(shown)
            views.decide(who, n, shown["id"], action, fields, shown["version"])


def test_only_settled_pairs_go_on_and_the_lead_settles_a_disagreement(team_run):
    store = ReviewStore(team_run.run_dir)
    views = TeamViews(store, Team.load(team_run.run_dir))
    disputed = store.image_json(4)["pairs"][0]["id"]  # on an image both reviewers have
    decide_all(views, "li", lambda p: ("approve", {}))
    decide_all(views, "wang", lambda p: ("reject", {}) if p["id"] == disputed else ("approve", {}))
    manifest = team_run.run()
    assert manifest["stages"]["review"]["status"] == "done"
    kept = {p["id"] for p in read_jsonl(team_run.run_dir / "review" / "pairs.jsonl")}
    assert len(kept) == 11 and disputed not in kept  # 12 pairs, one awaits the lead
    facts = manifest["stages"]["review"]["facts"]["team"]
    assert facts["standing"] == {"agreed": 5, "disagree": 1, "single": 6} and facts["unsettled"] == 1
    agreement = facts["agreement"]
    assert agreement["overall"]["pairs"] == 6 and agreement["overall"]["observed"] == pytest.approx(5 / 6)
    # kappa with li all "approved": pe = 1 * 5/6 -> (5/6 - 5/6) / (1 - 5/6) = 0
    assert agreement["overall"]["kappa"] == pytest.approx(0.0)
    # the lead rejects it: final, and the next run notices the new decision by itself
    lead = views.team.reviewers["zhao"]
    shown = next(p for p in views.image_json(lead, 4, {})["pairs"] if p["id"] == disputed)
    views.decide(lead, 4, disputed, "reject", {}, shown["version"])
    manifest = team_run.run()
    assert manifest["stages"]["review"]["facts"]["team"]["standing"]["adjudicated"] == 1
    kept = {p["id"] for p in read_jsonl(team_run.run_dir / "review" / "pairs.jsonl")}
    assert len(kept) == 11 and disputed not in kept  # rejected by the lead
    every = {p["id"]: p for p in read_jsonl(team_run.run_dir / "review" / "all_pairs.jsonl")}
    assert every[disputed]["review"] == "rejected"
    audit = [a for a in read_jsonl(team_run.run_dir / "review" / "audit.jsonl") if a["pair_id"] == disputed]
    assert audit[-1]["action"] == "adjudicate" and audit[-1]["reviewer"] == "zhao"
    assert audit[-1]["originals"]["li"]["review"] == "approved"
    assert audit[-1]["originals"]["wang"]["review"] == "rejected"
    assert audit[-1]["originals"]["teacher"]["review"] == "pending"
    figures = manifest["stages"]["review"]["facts"]["team"]["agreement"]
    assert figures["per_reviewer"]["wang"]["with_result"] == 1.0
    assert figures["per_reviewer"]["li"]["with_result"] == pytest.approx(5 / 6)
    # a pair the lead adds is the lead's decision: settled, it goes on
    lead_added = store.add(4, {"question": "Added by the lead?", "answer": "Yes."}, reviewer="zhao")
    manifest = team_run.run()
    kept = {p["id"] for p in read_jsonl(team_run.run_dir / "review" / "pairs.jsonl")}
    assert lead_added["id"] in kept and len(kept) == 12
    assert manifest["stages"]["review"]["facts"]["team"]["standing"]["added"] == 1
    # no key reached the manifest or any file of the run
    blob = b"".join(p.read_bytes() for p in team_run.run_dir.rglob("*") if p.is_file())
    assert not any(key.encode() in blob for key in team_run.keys.values())


def test_pairs_awaiting_the_team_wait_and_say_so(team_run):
    manifest = team_run.run()
    review = manifest["stages"]["review"]
    assert review["status"] == "waiting"
    assert review["next"].startswith("12 pair(s) await the team (reviewers, or a lead for disagreements)")


def test_the_report_shows_the_team_figures_and_no_key(team_run):
    from types import SimpleNamespace

    from vlkd.api import Manifest
    from vlkd.plugins.report.document import _plugin_sections
    from vlkd.plugins.report.render_md import render_markdown

    def team_sections(manifest):
        """What the report gets through the vlkd_report_sections hook, the team's section only."""
        data = SimpleNamespace(manifest=Manifest.model_validate(manifest))
        return [s for s in _plugin_sections(data) if s.id == "team-review"]

    store = ReviewStore(team_run.run_dir)
    views = TeamViews(store, Team.load(team_run.run_dir))
    decide_all(views, "li", lambda p: ("approve", {}))
    decide_all(
        views,
        "wang",
        lambda p: ("edit", {"answer": "Changed."}) if "page 4" in p["question"] else ("approve", {}),
    )
    manifest = team_run.run()
    md = render_markdown("r", team_sections(manifest))
    assert "## Team review" in md
    assert "Reviewers: li, wang, zhao (lead); overlap 2 on 50.0% of the images (riskiest first); blind." in md
    # 6 pairs decided twice: the 2 of image 4 differ (approved vs edited): observed 4/6
    # kappa: li all approved: pe = 4/6 -> (4/6 - 4/6) / (1 - 4/6) = 0
    assert "| **all** | **6** | **66.7%** | **κ 0.00** | **0.0% of 2** |" in md
    assert "| part_recognition | 2 | 100.0% | – | – |" in md  # one status only: kappa undefined
    assert "| li | 8 | 66.7% | 100.0% of 4 |" in md  # the 4 agreed pairs; the 2 disputed are not settled
    assert "The teacher's answer was kept in 100.0% of the 10 settled pairs." in md
    assert not any(key in md for key in team_run.keys.values())
    assert team_sections({"stages": {}}) == []


def test_the_stage_divides_the_images_as_the_page_did_when_the_recipe_adds_pairs(tmp_path):
    """The recipe's `edits:` sheet adds pairs the page never showed (the demo's photos): the stage
    must not divide them into the team's queues, or every pair the page gave one reviewer waits."""
    from vlkd.plugins.review.team.roster import TeamSettings
    from vlkd.testing.fake_run import FakeRun, make_images, make_pairs

    images = make_images(tmp_path / "images", 8, size=(64, 48))
    edits = tmp_path / "expert.csv"
    edits.write_text(
        "pair_id,image,brand,vehicle_model,category,question,answer,negative,status,comment,flags,image_path,version\n"
        ",page_006.png,,,,Which light?,oil,false,approved,,,,\n"
        ",page_007.png,,,,Which light?,engine,false,approved,,,,\n",
        encoding="utf-8",
    )
    run = FakeRun(
        tmp_path,
        {"review": {"plugin": "spreadsheet", "edits": str(edits), "require_agreement": True}},
        images,
        make_pairs(images[:6], 2),
    )
    run.run()
    team = Team(run.run_dir, TeamSettings(overlap=2, overlap_share=0.5), {})
    for name in ("li", "wang"):
        team.add(name, "reviewer")
    team.save()
    views = TeamViews(ReviewStore(run.run_dir), Team.load(run.run_dir))
    decide_all(views, "li", lambda p: ("approve", {}))
    decide_all(views, "wang", lambda p: ("approve", {}))
    facts = run.run()["stages"]["review"]["facts"]["team"]
    assert facts["standing"] == {"added": 2, "agreed": 6, "single": 6} and facts["unsettled"] == 0


def test_a_team_added_or_a_team_log_replaced_is_noticed(team_run):
    from vlkd.plugins.review.team.outcome import team_changed
    from vlkd.plugins.review.team.settle import LOG

    assert team_changed(team_run.run_dir, {}) == "the review team changed (reviewers, overlap or settings)"
    views = TeamViews(ReviewStore(team_run.run_dir), Team.load(team_run.run_dir))
    decide_all(views, "li", lambda p: ("approve", {}))
    team_run.run()
    exports = json.loads((team_run.run_dir / "review" / "exports.json").read_text())
    assert team_changed(team_run.run_dir, exports) is None
    (team_run.run_dir / "review-imports" / LOG).write_text("", encoding="utf-8")  # by hand
    assert team_changed(team_run.run_dir, exports) == "the team review log was replaced"
