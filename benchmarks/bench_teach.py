"""Teach-stage speed against a local OpenAI-wire server (run by hand; figures printed, nothing asserted).

    python benchmarks/bench_teach.py [--images 500] [--latency 0.2] [--concurrency 32] [--rpm-images 300]
    python benchmarks/bench_teach.py --startup-only --startup-runs 5 --compare-tree /tmp/base

1. throughput: N images, fixed server latency, C requests in flight; compared with the ideal
   C/latency and with the seed's sequential loop (1/latency).
2. server-enforced 600 requests/min (429 + Retry-After beyond it): sustained rate vs the limit,
   images lost; once with no client limit (the server's 429s alone pace us), once with rpm: 600.
3. re-running the finished stage: requests and seconds (stage up to date), and with --from teach
   (stage redone from the response cache).
4. ocr_context: the extra prompt tokens and seconds per image that the OCR hint costs.

The server runs in its own process (python -m vlkd.testing.fake_provider) so that it does not share
the client's interpreter lock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from vlkd.core.hookspecs import hookimpl

KEY = "sk-bench-0123456789abcdef"


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlkd.testing.fake_provider", "--api-key", KEY, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    return proc, url


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_stats") as resp:
        return json.loads(resp.read())


def make_images(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 7))
        img.save(folder / f"img_{i:04d}.png")


class _SleepTeacherPlugin:
    """A teacher that answers after ``latency`` without HTTP: the driver's own overhead, nothing else."""

    latency = 0.2

    @hookimpl
    def vlkd_register_teachers(self, register):
        import asyncio

        from vlkd.teach import Teacher, TeachResponse

        latency = self.latency

        class SleepTeacher(Teacher):
            def prompt_pack(self):
                from vlkd.plugins.teach.prompts import automotive_pack

                return automotive_pack()

            async def respond(self, request):
                await asyncio.sleep(latency)
                return TeachResponse(
                    text='```csv\n"Q1?","A1"\n"Q2?","A, 2"\n"Q3?","不存在"\n```',
                    input_tokens=900,
                    output_tokens=40,
                )

        register("sleep", SleepTeacher)


def registry():
    import importlib

    from vlkd.core.registry import Registry, get_plugin_manager

    pm = get_plugin_manager(autoload=False, builtins=False)
    for name in ("vlkd.plugins.ingest", "vlkd.plugins.teach"):
        pm.register(importlib.import_module(name), name=name)
    pm.register(_SleepTeacherPlugin())
    return Registry(pm)


def run(folder: Path, run_dir: Path, teach: dict, **kwargs) -> tuple[dict, float]:
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    recipe = run_dir.parent / f"{run_dir.name}.yaml"
    recipe.write_text(
        json.dumps({"name": "bench", "ingest": {"plugin": "files", "inputs": str(folder)}, "teach": teach}),
        encoding="utf-8",
    )
    t0 = time.perf_counter()
    manifest = Engine(
        load_recipe(recipe, registry=registry()), run_dir, reporter=Reporter(quiet=True), **kwargs
    ).run()
    return manifest, time.perf_counter() - t0


def seed_loop(folder: Path, url: str, n: int) -> float:
    """The seed article's loop (one synchronous GPT-4o call per image, one after another): images/s."""
    import base64

    import openai

    client = openai.OpenAI(api_key=KEY, base_url=url + "/v1")
    paths = sorted(folder.glob("*.png"))[:n]
    t0 = time.perf_counter()
    for path in paths:
        image_base64 = base64.b64encode(path.read_bytes()).decode("utf-8")
        response = client.chat.completions.create(
            model="gpt-4o",
            temperature=1,
            max_tokens=2048,
            messages=[
                {"role": "system", "content": [{"type": "text", "text": "..."}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image_base64}"}}
                    ],
                },
            ],
        )
        text = response.choices[0].message.content.replace("```csv", "").replace("```", "").strip()
        rows = [row.split(",", 1) for row in text.splitlines()]  # the seed's parsing
        assert rows
    return len(paths) / (time.perf_counter() - t0)


def bare_calls(url: str, paths: list[Path], concurrency: int, *, sdk: bool) -> tuple[float, float]:
    """The same calls with nothing of vlkd around them: (images/s in the calls' window, CPU ms per call).

    ``sdk``: ``AsyncOpenAI`` over aiohttp, called as the openai teacher calls it
    (``client.post(..., cast_to=bytes)``); otherwise bare aiohttp. A rate neither reaches is out
    of reach for any client built on them, on this server and this machine.
    """
    import asyncio
    import base64

    import aiohttp
    import openai

    system = "..." * 400  # about the size of the automotive prompt pack's system prompt

    def body(path: Path) -> dict:
        url_ = f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"
        return {
            "model": "gpt-4o",
            "max_tokens": 2048,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url_}}]},
            ],
        }

    async def main() -> tuple[float, float]:
        if sdk:
            client = openai.AsyncOpenAI(
                api_key=KEY, base_url=url + "/v1", max_retries=0, http_client=openai.DefaultAioHttpClient()
            )

            async def post(b: dict) -> None:
                json.loads(await client.post("/chat/completions", body=b, cast_to=bytes))

            close = client.close
        else:
            session = aiohttp.ClientSession()
            headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

            async def post(b: dict) -> None:
                async with session.post(
                    url + "/v1/chat/completions", data=json.dumps(b), headers=headers
                ) as r:
                    json.loads(await r.read())

            close = session.close
        todo = iter(paths)
        first: list[float] = []
        last = 0.0

        async def worker() -> None:
            nonlocal last
            for path in todo:
                b = body(path)
                first.append(time.perf_counter())
                await post(b)
                last = time.perf_counter()

        cpu0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu = time.process_time() - cpu0
        await close()
        return len(paths) / (last - min(first)), cpu / len(paths) * 1000

    return asyncio.run(main())


def teach_section(url: str, **kw) -> dict:
    return {"plugin": "openai", "model": "gpt-4o", "base_url": url + "/v1", "api_key": KEY, **kw}


_SEED_PROCESS = """
import base64, sys, openai
from pathlib import Path
client = openai.OpenAI(api_key=sys.argv[2], base_url=sys.argv[1] + "/v1")
for path in sorted(Path(sys.argv[3]).glob("*.png")):
    image_base64 = base64.b64encode(path.read_bytes()).decode("utf-8")
    response = client.chat.completions.create(model="gpt-4o", temperature=1, max_tokens=2048, messages=[
        {"role": "system", "content": [{"type": "text", "text": "..."}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image_base64}"}}]}])
    rows = [row.split(",", 1) for row in response.choices[0].message.content.splitlines()]
"""


def whole_process_vs_seed(tmp: Path, args: argparse.Namespace, folder: Path) -> None:
    """The seed's script and `vlkd run` (ingest and teach), each a whole process, alternated."""
    n = len(list(folder.glob("*.png")))
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp / "pycache"), "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    got: dict[str, list[float]] = {"the seed's script": [], "vlkd run": []}
    proc, url = start_server("--latency", str(args.latency))
    try:
        for k in range(-1, args.whole_runs):  # the first round compiles bytecode, untimed
            for name in got if k % 2 else list(got)[::-1]:
                if name == "vlkd run":
                    rd = tmp / f"whole_{k}"
                    recipe = tmp / f"whole_{k}.yaml"
                    section = teach_section(url, concurrency=args.concurrency)
                    ingest = {"plugin": "files", "inputs": str(folder)}
                    recipe.write_text(json.dumps({"name": "b", "ingest": ingest, "teach": section}))
                    cmd = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--quiet"]
                else:
                    cmd = [sys.executable, "-c", _SEED_PROCESS, url, KEY, str(folder)]
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True)
                if k >= 0:
                    got[name].append(n / (time.perf_counter() - t0))
    finally:
        proc.terminate()
    seed, vlkd = (statistics.median(v) for v in got.values())
    print(
        f"[whole process vs whole process, {n} images, latency {args.latency * 1000:.0f} ms, "
        f"{args.whole_runs} runs of each alternated, imports and start-up included; load average "
        f"{os.getloadavg()[0]:.1f}] the seed's script {seed:.2f} images/s, vlkd run (ingest and teach) "
        f"{vlkd:.2f} images/s: {vlkd / seed:.1f}x"
    )


def startup(tmp: Path, args: argparse.Namespace, folder: Path) -> None:
    """Seconds from a fresh process's start (and from the teach stage's start) to the first request."""
    proc, url = start_server("--latency", str(args.latency))
    trees = [("this checkout", Path(__file__).resolve().parents[1])]
    if args.compare_tree:
        trees.append((f"{args.compare_tree}", args.compare_tree.resolve()))
    got: dict[str, list[tuple[float, float | None, float]]] = {}
    #: the process's CPU seconds when its first request went out: from its start, from the stage's
    #: (a tree before these facts has none); a loaded machine's waiting does not inflate them
    cpu: dict[str, list[tuple[float | None, float | None]]] = {}
    # compiled bytecode, as a user's second run has it (a venv installed by uv has none, and
    # PYTHONDONTWRITEBYTECODE would compile the SDK at every start): one untimed run of each first
    cache = {"PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    try:
        for k in range(-1, args.startup_runs):
            for label, tree in trees if k % 2 else trees[::-1]:
                rd = tmp / f"startup_{k}_{len(got.get(label, []))}_{tree.name}"
                recipe = tmp / f"{rd.name}.yaml"
                section = teach_section(url, concurrency=args.concurrency)
                recipe.write_text(
                    json.dumps(
                        {
                            "name": "bench",
                            "ingest": {"plugin": "files", "inputs": str(folder)},
                            "teach": section,
                        }
                    ),
                    encoding="utf-8",
                )
                env = {**os.environ, **cache, "PYTHONPATH": str(tree), "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                base = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--quiet"]
                # run from tmp: `python -m` puts the current folder first on sys.path, and run
                # from a checkout it would import that checkout's vlkd whatever PYTHONPATH says
                subprocess.run([*base, "--to", "ingest"], env=env, check=True, cwd=tmp)
                t0 = time.time()
                subprocess.run(base, env=env, check=True, cwd=tmp)
                first = stats(url)["first_request_at"]
                entry = json.loads((rd / "manifest.json").read_text())["stages"]["teach"]
                facts = entry.get("facts", {})
                if k >= 0:
                    got.setdefault(label, []).append(
                        (first - t0, facts.get("first_request_s"), entry["wall_time_s"])
                    )
                    cpu.setdefault(label, []).append(
                        (facts.get("first_request_process_cpu_s"), facts.get("first_request_cpu_s"))
                    )
                proc.terminate()
                proc.wait()
                proc, url = start_server("--latency", str(args.latency))  # a fresh count each run
    finally:
        proc.terminate()
    print(
        f"[start-up, {args.rpm_images} images, fresh `vlkd run` processes with only teach left, "
        f"{args.startup_runs} of each, alternated; load average {os.getloadavg()[0]:.1f}]"
    )
    medians: dict[str, tuple[float, float | None]] = {}
    for label, rows in got.items():
        process = statistics.median(r[0] for r in rows)
        stage = [r[1] for r in rows if r[1] is not None]
        wall = statistics.median(r[2] for r in rows)
        line = f"    {label}: first request {process:.2f} s after the process started"
        s = statistics.median(stage) if stage else None
        if s is not None:
            line += (
                f", {s:.2f} s after the teach stage began (start-up share: {s / wall:.0%} of the "
                f"stage's {wall:.2f} s)"
            )
        medians[label] = (process, s)
        cpus = [r for r in cpu.get(label, []) if r[0] is not None and r[1] is not None]
        if cpus:
            line += (
                f"; CPU {statistics.median(r[0] for r in cpus):.2f} s from the process's start, "
                f"{statistics.median(r[1] for r in cpus):.2f} s from the stage's"
            )
        print(line)
    if len(medians) == 2:  # this checkout against the other tree, from the same alternated runs
        p1, s1 = medians.pop(trees[0][0])
        ((other, (p2, s2)),) = medians.items()
        line = f"    this checkout / {other}: {p1 / p2:.2f}x after the process started"
        if s1 is not None and s2:
            line += f", {s1 / s2:.2f}x after the stage began"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument(
        "--steady-images",
        type=int,
        default=2000,
        help="a second, longer throughput run, where the first and last rounds weigh less (0: none)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="throughput runs of each kind, interleaved")
    ap.add_argument("--rpm-images", type=int, default=300)
    ap.add_argument("--rpm-repeat", type=int, default=2, help="rate-limit runs of each pacing, interleaved")
    ap.add_argument("--skip-ocr", action="store_true")
    ap.add_argument("--startup-runs", type=int, default=3, help="fresh processes timed to the first request")
    ap.add_argument(
        "--whole-runs", type=int, default=2, help="the seed's script and vlkd run as whole processes, each"
    )
    ap.add_argument("--whole-images", type=int, default=100)
    ap.add_argument(
        "--compare-tree",
        type=Path,
        default=None,
        help="another checkout of vlkd (e.g. the commit before a change): its start-up is timed "
        "alternately with this one's, on the same server",
    )
    ap.add_argument("--http-backend", default="aiohttp", choices=("httpx", "aiohttp"))
    ap.add_argument("--startup-only", action="store_true", help="only the start-up runs (5.)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_teach_"))
    if args.startup_only:
        small = tmp / "images_rpm"
        make_images(small, args.rpm_images)
        startup(tmp, args, small)
        return
    folder = tmp / "images"
    make_images(folder, max(args.images, args.rpm_images))
    small = tmp / "images_rpm"
    make_images(small, args.rpm_images)

    # 1. throughput: vlkd, and beside it, against the same server in the same run, the floors
    # that no client built on the SDK can pass (the SDK's calls alone, and bare aiohttp)
    proc, url = start_server("--latency", str(args.latency))
    try:
        # the SDK imported before the clock starts: CPU per image is the calls' cost, not the
        # import's (seconds where the venv has no compiled bytecode; the stage's wall time below
        # still counts a client's start)
        import openai.types.chat  # noqa: F401

        ideal = args.concurrency / args.latency
        _SleepTeacherPlugin.latency = args.latency
        rerun: tuple[Path, Path] | None = None  # a finished run, re-run below
        sizes = [args.images] + ([args.steady_images] if args.steady_images else [])
        for n_images in sizes:
            sub = tmp / f"images_{n_images}"
            make_images(sub, n_images)
            paths = sorted(sub.glob("*.png"))
            got: dict[str, list[tuple[float, float]]] = {}
            for _ in range(args.repeat):  # interleaved: the machine's drift hits all alike
                for name, sdk in (("bare aiohttp", False), ("the SDK alone", True)):
                    got.setdefault(name, []).append(bare_calls(url, paths, args.concurrency, sdk=sdk))
                for name, teach in (
                    (
                        "vlkd",
                        teach_section(url, concurrency=args.concurrency, http_backend=args.http_backend),
                    ),
                    ("vlkd's driver alone", {"plugin": "sleep", "concurrency": args.concurrency}),
                ):
                    run_dir = tmp / f"run_{n_images}_{len(got.get(name, []))}_{teach['plugin']}"
                    run(sub, run_dir, teach, to_stage="ingest")  # CPU below: the teach stage's
                    cpu0 = time.process_time()
                    m, _ = run(sub, run_dir, teach)
                    cpu = time.process_time() - cpu0
                    entry = m["stages"]["teach"]
                    n = entry["counts"]["ok"]
                    assert n == n_images, entry["counts"]
                    window = entry["facts"]["calls_window_s"]
                    got.setdefault(name, []).append((n / window, cpu / n * 1000))
                    if teach["plugin"] != "sleep":
                        got.setdefault("vlkd, whole stage", []).append((n / entry["wall_time_s"], 0.0))
                        rerun = rerun or (sub, run_dir)
            rounds = -(-n_images // args.concurrency)
            print(
                f"[throughput, {n_images} images, latency {args.latency * 1000:.0f} ms, concurrency "
                f"{args.concurrency}, SDK over {args.http_backend}] share of concurrency/latency "
                f"({ideal:.0f}/s) in the calls' window (first request out to last answer in), median of "
                f"{args.repeat} (range); whole rounds of {args.concurrency} allow at most "
                f"{n_images / (rounds * args.latency) / ideal:.1%}:"
            )
            sdk_alone = statistics.median([r for r, _ in got["the SDK alone"]])
            for name, results in got.items():
                rates = [r for r, _ in results]
                cpus = [c for _, c in results if c]
                line = f"    {name}: {statistics.median(rates) / ideal:.1%} ({min(rates) / ideal:.1%}–{max(rates) / ideal:.1%})"
                if name == "vlkd":
                    line += f" = {statistics.median(rates) / sdk_alone:.1%} of the SDK alone"
                if name == "vlkd, whole stage":
                    line += " (the client's start-up included, the SDK's import not)"
                if cpus:
                    line += f"; client CPU {statistics.median(cpus):.2f} ms per image"
                print(line)
        seed = seed_loop(folder, url, 25)  # measured, same server, same latency
        print(
            f"[the seed's sequential loop] {seed:.2f} images/s (1/latency = {1 / args.latency:.0f}/s): "
            f"vlkd's median in the calls' window at {sizes[-1]} images is {statistics.median([r for r, _ in got['vlkd']]) / seed:.1f}x it"
        )
        print(f"[conditions] load average {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
        # 3. re-runs
        assert rerun is not None
        before = stats(url)["requests"]
        m, secs = run(*rerun, teach_section(url, concurrency=args.concurrency))
        print(
            f"[re-run, stage up to date] requests {stats(url)['requests'] - before}, {secs:.2f} s "
            f"(teach: {m['stages']['teach']['status']})"
        )
        m, secs = run(*rerun, teach_section(url, concurrency=args.concurrency), from_stage="teach")
        u = m["stages"]["teach"]["usage"]
        print(
            f"[re-run --from teach, from the cache] requests {stats(url)['requests'] - before}, "
            f"{secs:.2f} s for the whole run, teach stage {m['stages']['teach']['wall_time_s']:.2f} s, "
            f"{u['cached']} cached answers"
        )
    finally:
        proc.terminate()

    # 5. start-up: a fresh `vlkd run` process that has only the teach stage left (ingest done
    # in a process before it), against the same server: when its first request arrives
    if args.startup_runs:
        startup(tmp, args, small)
    if args.whole_runs:
        whole = tmp / "images_whole"
        make_images(whole, args.whole_images)
        whole_process_vs_seed(tmp, args, whole)

    # 2. server-enforced rate limit: the server's own count of what it let through. "even
    # spacing" is the limiter with a burst of one (each call one interval after the previous
    # one, as before: a late wake-up is lost for good), alternated with the bucket, A/B/A/B
    from vlkd.teach import limits

    runs = [("no client limit", {}, None)]
    for _ in range(args.rpm_repeat):
        runs += [("rpm: 600, even spacing", {"rpm": 600}, 1.0), ("rpm: 600, bucket", {"rpm": 600}, None)]
    init = limits.RateLimiter.__init__
    for i, (label, extra, burst) in enumerate(runs):
        proc, url = start_server("--rpm", "600", "--burst", "10")

        def forced(self, *a, _burst=burst, **kw):
            init(self, *a, **kw)
            self.burst = _burst or self.burst

        limits.RateLimiter.__init__ = forced
        try:
            m, _ = run(small, tmp / f"run_rpm_{i}", teach_section(url, concurrency=32, **extra))
            entry = m["stages"]["teach"]
            s = stats(url)
            ok, wall = entry["counts"]["ok"], entry["wall_time_s"]
            sustained = (s["admitted"] - 1) / s["admitted_span_s"] * 60 if s.get("admitted", 0) > 1 else 0.0
            busiest = f", busiest 60 s {s['busiest_60s']}" if s.get("admitted_span_s", 0) >= 60 else ""
            print(
                f"[rate limit 600/min, {label}] {ok}/{args.rpm_images} images in {wall:.1f} s; the server let "
                f"requests through at {sustained:.0f}/min = {sustained / 600:.1%} of the limit "
                f"(first to last){busiest}; lost {args.rpm_images - ok}; 429s answered by the server "
                f"{s['statuses'].get('429', 0)}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        finally:
            limits.RateLimiter.__init__ = init
            proc.terminate()

    # 4. ocr_context overhead: what the hint adds to each prompt, and what reading it costs
    if not args.skip_ocr:
        from vlkd.ocr import ocr_text
        from vlkd.plugins.teach.prompts import automotive_pack
        from vlkd.teach.options import TeacherOptions
        from vlkd.teach.prompts import PromptSet
        from vlkd.teach.teacher import image_tokens, text_tokens

        prompts = PromptSet(TeacherOptions(plugin="x"), automotive_pack())
        seed_prompt = text_tokens(prompts.text(prompts.default_system))

        demo = Path(__file__).resolve().parents[1] / "recipes" / "data" / "demo"
        pages = sorted(demo.glob("*.png"))
        ocr_text(pages[0].read_bytes())  # load the models once, outside the timing
        added, seconds, base = [], [], []
        for page in pages:
            from PIL import Image

            t0 = time.perf_counter()
            text = ocr_text(page.read_bytes())
            seconds.append(time.perf_counter() - t0)
            added.append(text_tokens(text))
            with Image.open(page) as im:
                base.append(image_tokens(*im.size) + seed_prompt)  # the image plus the seed's prompt
        n = len(pages)
        print(
            f"[ocr_context] {n} demo pages: the OCR hint adds {sum(added) / n:.0f} prompt tokens per image "
            f"(+{sum(added) / sum(base):.0%} of the input tokens) and {sum(seconds) / n:.2f} s of CPU per image "
            f"before the call; whether answers get better needs a real teacher and is not measurable offline"
        )


if __name__ == "__main__":
    main()
