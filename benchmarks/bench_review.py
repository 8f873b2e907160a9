"""The review page with many pairs (run by hand; figures printed, nothing asserted).

    python benchmarks/bench_review.py [--pairs 5000] [--per-image 10] [--memory 500,5000,50000]
        [--usable 5000,50000] [--loads 5] [--compare-tree /tmp/main-checkout]

1. page usable: a fresh Chromium context (Debian's, through Playwright) from navigation until the
   first image is loaded and fitted and its pairs are shown, for each size in ``--usable``. Two
   figures: inside the page, from the navigation's start (a mark set at the first such frame by a
   probe injected into every page; the page also sets its own ``vlkd-usable`` mark once the
   image is decoded), and outside, from Playwright's ``goto`` to its waits (its own round trips
   count). With ``--compare-tree`` another checkout's page (its server in a process of its own,
   like this one's) is loaded in turn with this one's, A/B/B/A, on the same kind of run.
2. saving one decision: the server's own work (``ReviewStore.decide``: version check, log
   append with fsync, audit line), and the round trip through HTTP for comparison.
3. memory of the server process (RSS) after loading the run and serving the page's first
   requests, for each size in ``--memory``; each size in its own process, beside a process
   that holds every pair as a dict (what a server built on ``load_state`` would keep).

Pairs are the fake ones of ``vlkd.testing.fake_run`` with the demo's parts table as every image.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "recipes" / "data" / "demo" / "parts_table.png"


def build_run(folder: Path, n_pairs: int, per_image: int) -> Path:
    import shutil

    from vlkd.testing.fake_run import FakeRun

    # one picture for every page, kept inside the run as a stage's copy: the server shows an input
    # file outside the run only while its bytes are the id ingest recorded, and these ids are made up
    page = folder / "run" / "preprocess" / "images" / IMAGE.name
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(IMAGE, page)
    n_images = max(1, n_pairs // per_image)
    images, pairs = [], []
    for i in range(n_images):
        image_id = hashlib.sha256(f"image {i}".encode()).hexdigest()
        images.append(
            {
                "id": image_id,
                "path": str(page),
                "width": 1000,
                "height": 700,
                "sources": [{"path": f"scan_{i:05d}.png"}],
                "category": ("part_recognition", "fault_diagnosis", "manual_parsing")[i % 3],
                "metadata": {"brand": "BYD", "vehicle_model": "Qin Plus"},
            }
        )
        for j in range(per_image):
            question = f"图中第 {j} 个零件的编号是什么？ Part number {j} on page {i}?"
            pairs.append(
                {
                    "id": hashlib.sha256(f"{image_id}\0{question}".encode()).hexdigest()[:16],
                    "image_id": image_id,
                    "question": question,
                    "answer": f"零件号 BYD-{i:05d}-{j:02d}，扭矩 45 N·m，适用 Qin Plus DM-i 2023 款。",
                    "category": images[-1]["category"],
                    "negative": j == per_image - 1,
                    "provenance": {"plugin": "openai", "model": "gpt-4o", "prompt_hash": "0" * 12},
                    "review": "pending",
                    "flags": [{"check": "ocr_grounding", "flag": "ungrounded", "reason": "not on the page"}]
                    if (i * per_image + j) % 17 == 0
                    else [],
                }
            )
    run = FakeRun(folder, {"review": {"plugin": "spreadsheet"}}, images, pairs)
    return run.run_dir


_SERVE = """
import sys
from vlkd.plugins.review.web.server import ReviewServer
server = ReviewServer(sys.argv[1], port=0).start_background()
print(server.url, flush=True)
sys.stdin.read()  # until the benchmark closes it
server.stop()
"""

#: in every page, old or new alike: a mark at the first frame in which the first image is loaded
#: and fitted (the script sets its transform) and a pair is shown
_PROBE = """
(() => {
  const look = () => {
    const img = document.getElementById("image");
    if (img && img.complete && img.naturalWidth > 0 && img.style.transform && document.querySelector(".pair")) {
      performance.mark("bench-usable");
    } else requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""

_TIMES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const mark = (name) => { const m = performance.getEntriesByName(name)[0]; return m ? m.startTime : null; };
  return { probe: mark("bench-usable"), own: mark("vlkd-usable"), html: nav.responseStart,
           html_end: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
           bytes: nav.transferSize };
}"""


def _server(tree: Path, run_dir: Path) -> tuple[subprocess.Popen, str]:
    """A review server of the code in ``tree``, in a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tree,
    )
    return proc, proc.stdout.readline().strip()


def page_usable(
    runs: dict[str, Path], trees: dict[str, Path], loads: int = 5
) -> dict[str, dict[str, list[float]]]:
    """Cold loads (a new browser context each) of each tree's page, alternated A/B/B/A: seconds
    until usable seen from outside (Playwright's goto to its waits: its own round trips count)
    and inside the page, from the navigation's start (the probe's mark; the page's own mark)."""
    import shutil

    from playwright.sync_api import sync_playwright

    servers = {name: _server(tree, runs[name]) for name, tree in trees.items()}
    times: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            names = list(trees)
            for k in range(loads + 1):  # the first round warms the browser itself; not counted
                for name in names if k % 2 else names[::-1]:
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    context.add_init_script(_PROBE)
                    page = context.new_page()
                    t0 = time.perf_counter()
                    page.goto(servers[name][1])
                    page.locator(".pair").first.wait_for()
                    page.wait_for_function(
                        "() => { const i = document.getElementById('image'); return i.complete && i.naturalWidth > 0; }",
                        polling=5,
                    )
                    outside = time.perf_counter() - t0
                    page.wait_for_function("() => performance.getEntriesByName('bench-usable').length > 0")
                    inside = page.evaluate(_TIMES)
                    if k:
                        got = times[name]
                        got.setdefault("outside", []).append(outside)
                        for key, value in inside.items():
                            if value is not None:
                                got.setdefault(key, []).append(value / (1 if key == "bytes" else 1000))
                    context.close()
            browser.close()
    finally:
        for proc, _ in servers.values():
            proc.stdin.close()
            proc.wait(timeout=30)
    return times


def decision_times(run_dir: Path, n: int = 200) -> tuple[list[float], list[float]]:
    import httpx

    from vlkd.plugins.review.web.server import ReviewServer

    server = ReviewServer(run_dir, port=0).start_background()
    store = server.store
    inside, http = [], []
    try:
        for k in range(n):  # the server's own work, called as the route calls it
            image = k % len(store.image_pairs)
            pair = store.image_json(image)["pairs"][0]
            t0 = time.perf_counter()
            store.decide(
                image, pair["id"], "approve" if k % 2 else "reject", {}, base=pair["version"], reviewer="b"
            )
            inside.append(time.perf_counter() - t0)
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            page = client.get("/").text
            csrf = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])["csrf"]
            for k in range(n):
                image = k % len(store.image_pairs)
                pair = client.get(f"/api/image/{image}").json()["pairs"][1]
                t0 = time.perf_counter()
                r = client.post(
                    f"/api/image/{image}/pair/{pair['id']}",
                    json={"action": "approve" if k % 2 else "reject", "base": pair["version"]},
                    headers={"X-CSRF-Token": csrf},
                )
                http.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
    finally:
        server.stop()
    return inside, http


_MEMORY = """
import json, sys, httpx
from vlkd.plugins.review.web.server import ReviewServer
def rss():
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            yield line.split()[0][:-1], int(line.split()[1]) / 1024
before = dict(rss())
server = ReviewServer(sys.argv[1], port=0).start_background()
with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
    c.get("/"); c.get("/api/queue"); c.get("/api/image/0"); c.get("/api/queue?status=pending&flag=any")
after = dict(rss())
server.stop()
print(json.dumps({"imports_mb": before["VmRSS"], "rss_mb": after["VmRSS"], "peak_mb": after["VmHWM"]}))
"""


_WHOLE = """
import json, sys
from pathlib import Path
from vlkd.core.rundir import RunDir
from vlkd.plugins.review.imports import load_state, stage_inputs
run_dir = Path(sys.argv[1])
state = load_state(run_dir, *stage_inputs(run_dir, RunDir(run_dir).read_manifest()))
rss = next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))
print(json.dumps({"rss_mb": rss, "pairs": len(state.pairs)}))
"""


def memory(run_dir: Path, script: str = _MEMORY) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def ms(values: list[float]) -> str:
    values = sorted(values)
    return f"median {statistics.median(values) * 1000:.1f} ms, p95 {values[int(len(values) * 0.95) - 1] * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--memory", default="500,5000,50000")
    parser.add_argument("--usable", default="5000,50000", help="pairs for the page-usable timing")
    parser.add_argument("--loads", type=int, default=5, help="cold page loads of each tree")
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="another checkout (e.g. main's) whose page is loaded in turn with this one's",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this": ROOT}
        if args.compare_tree:
            trees[str(args.compare_tree)] = args.compare_tree.resolve()
        for size in (int(v) for v in args.usable.split(",")):
            runs = {
                name: build_run(Path(tmp) / f"u{size}-{i}", size, args.per_image)
                for i, name in enumerate(trees)
            }
            load = _loadavg()
            got = page_usable(runs, trees, args.loads)
            print(
                f"page usable (first image loaded and fitted, its pairs shown), {size} pairs, {args.loads} "
                f"cold loads of each, alternated; load average before {' '.join(load)}, "
                f"after {' '.join(_loadavg())}:"
            )
            for name, t in got.items():
                own = f"; the page's own mark {ms(t['own'])}" if t.get("own") else ""
                print(
                    f"  {name}: in the page, from navigation start: {ms(t['probe'])}{own}\n"
                    f"    outside (Playwright goto to its waits): {ms(t['outside'])}\n"
                    f"    HTML first byte {ms(t['html'])}, DOMContentLoaded {ms(t['dcl'])}, "
                    f"HTML {statistics.median(t['bytes']) / 1000:.1f} kB"
                )
            if len(got) == 2:
                (a, ta), (b, tb) = got.items()
                print(
                    f"  -> {a} / {b}: in the page {statistics.median(ta['probe']) / statistics.median(tb['probe']):.2f}x, "
                    f"outside {statistics.median(ta['outside']) / statistics.median(tb['outside']):.2f}x"
                )
        run_dir = build_run(Path(tmp) / "main", args.pairs, args.per_image)
        print(f"{args.pairs} pairs, {args.pairs // args.per_image} images")
        inside, http = decision_times(run_dir)
        print(f"saving one decision, at the server: {ms(inside)}; through HTTP: {ms(http)}")
        print("server memory (RSS after loading and the page's first requests):")
        for size in (int(s) for s in args.memory.split(",")):
            folder = build_run(Path(tmp) / f"m{size}", size, args.per_image)
            m, whole = memory(folder), memory(folder, _WHOLE)
            print(
                f"  {size:>6} pairs: {m['rss_mb']:.1f} MB (peak {m['peak_mb']:.1f} MB; "
                f"{m['imports_mb']:.1f} MB before the server started); the whole review state in "
                f"memory, as the review stage holds it: {whole['rss_mb']:.1f} MB"
            )


if __name__ == "__main__":
    main()
