import pytest

from vlkd.testing.fake_run import FakeRun, fake_run, make_images, make_pairs  # noqa: F401 - the fixture

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def review_run(tmp_path):
    """A run waiting for review: 3 images (brand/model set), 3 pairs each; pair 0 is hostile HTML,
    pair 4 is flagged."""
    images = make_images(tmp_path / "images", 3, size=(640, 420))
    for image in images:
        image["metadata"] = {"brand": "比亚迪", "vehicle_model": "Qin Plus"}
    pairs = make_pairs(images, 3)
    pairs[0]["answer"] = XSS
    pairs[4]["flags"] = [{"check": "ocr_grounding", "flag": "ungrounded", "reason": "答案不在图中"}]
    return waiting_review(tmp_path, images, pairs)


def waiting_review(tmp_path, images, pairs) -> FakeRun:
    """A run of these images and pairs whose review stage waits for the experts."""
    run = FakeRun(
        tmp_path,
        {"review": {"plugin": "spreadsheet", "require_approval": True}, "split": {"plugin": "by_image"}},
        images,
        pairs,
    )
    assert run.run()["status"] == "waiting"
    return run


@pytest.fixture
def serve():
    """serve(run_dir, **options) -> a started ReviewServer on a free port; all stopped at the end."""
    pytest.importorskip("starlette")
    from vlkd.plugins.review.web.server import ReviewServer

    servers = []

    def start(run_dir, **options):
        server = ReviewServer(run_dir, port=0, **{"reviewer": "tester", **options}).start_background()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def team_run(tmp_path):
    """A run waiting for a team review: 6 images, 2 pairs each (a pair of image 4 flagged);
    reviewers li and wang, lead zhao; overlap 2 on the riskiest half, blind. ``run.keys``: name -> key."""
    from vlkd.plugins.review.team.roster import Team, TeamSettings

    images = make_images(tmp_path / "images", 6, size=(320, 200))
    pairs = make_pairs(images, 2)
    pairs[8]["flags"] = [{"check": "ocr_grounding", "flag": "ungrounded", "reason": "not on the page"}]
    run = FakeRun(
        tmp_path,
        {
            "review": {"plugin": "spreadsheet", "require_approval": True, "require_agreement": True},
            "split": {"plugin": "by_image"},
        },
        images,
        pairs,
    )
    assert run.run()["status"] == "waiting"
    team = Team(run.run_dir, TeamSettings(overlap=2, overlap_share=0.5, blind=True), {})
    run.keys = {
        name: team.add(name, role)
        for name, role in (("li", "reviewer"), ("wang", "reviewer"), ("zhao", "lead"))
    }
    team.save()
    return run
