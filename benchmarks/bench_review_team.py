"""A team review with many pairs (run by hand; figures printed, nothing asserted).

    python benchmarks/bench_review_team.py [--pairs 5000] [--per-image 10] [--decisions 100]

Two reviewers and a lead, overlap 2 on every image, blind. Printed, each a median (and p95):

1. one reviewer's decision at the server: ``TeamViews.decide`` (catching up with the team log,
   the access and version checks, the log append with fsync, the audit line, the pair's JSON)
   and the reviewer's progress that the page gets with it;
2. a reviewer's queue and one image's JSON (what the page asks when it moves on);
3. the lead's agreement figures once every pair was decided twice (Cohen's kappa and the rest),
   after its libraries are imported; and that import alone (krippendorff), in a fresh process.

Pairs are those of ``bench_review.build_run`` (the demo's parts table as every image).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import build_run, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--decisions", type=int, default=100)
    args = parser.parse_args()
    from vlkd.plugins.review.team.roster import Team, TeamSettings
    from vlkd.plugins.review.team.views import TeamViews
    from vlkd.plugins.review.web.store import ReviewStore

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = build_run(Path(tmp), args.pairs, args.per_image)
        team = Team(run_dir, TeamSettings(overlap=2, blind=True), {})
        for name, role in (("li", "reviewer"), ("wang", "reviewer"), ("zhao", "lead")):
            team.add(name, role)
        team.save()
        store = ReviewStore(run_dir)
        views = TeamViews(store, Team.load(run_dir))
        li, wang = views.team.reviewers["li"], views.team.reviewers["wang"]
        decide, progress, queue, image = [], [], [], []
        todo = [(n, p) for n in views.queue(li, {}, "risk", "") for p in views.image_json(li, n, {})["pairs"]]
        for n, pair in todo[: args.decisions]:
            t0 = time.perf_counter()
            views.decide(li, n, pair["id"], "approve", {}, pair["version"])
            t1 = time.perf_counter()
            with store.lock:
                views.progress(li)
            t2 = time.perf_counter()
            decide.append(t1 - t0)
            progress.append(t2 - t1)
        for _ in range(20):
            t0 = time.perf_counter()
            views.queue(li, {}, "risk", "")
            t1 = time.perf_counter()
            views.image_json(li, todo[0][0], {})
            image.append(time.perf_counter() - t1)
            queue.append(t1 - t0)
        for who in (li, wang):  # every pair decided twice
            for n, pair in todo:
                shown = views.pair_json_for(
                    who, views.image_id(n) or "", views.find(views.image_id(n), pair["id"])
                )
                if shown["review"] == "pending":
                    views.decide(who, n, pair["id"], "approve", {}, shown["version"])
        views.figures()  # its libraries imported
        t0 = time.perf_counter()
        figures = views.figures()
        figures_s = time.perf_counter() - t0
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import krippendorff"], check=True)
    import_s = time.perf_counter() - started
    print(
        f"{args.pairs} pairs on {args.pairs // args.per_image} images, 2 reviewers + a lead, overlap 2, blind"
    )
    print(f"a reviewer's decision at the server: {ms(decide)}; their progress with it: {ms(progress)}")
    print(f"a reviewer's queue: {ms(queue)}; one image's JSON: {ms(image)}")
    print(
        f"the lead's figures over {figures['overall']['pairs']} pairs decided twice: {figures_s * 1000:.0f} ms"
    )
    print(f"importing the figures' library (krippendorff) in a fresh process: {import_s:.1f} s")
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
