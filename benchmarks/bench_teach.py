"""Teach-stage speed against a local OpenAI-wire server (run by hand; figures printed, nothing asserted).

    python benchmarks/bench_teach.py [--images 500] [--latency 0.2] [--concurrency 32] [--rpm-images 300]

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

        from vlkd.core.teach import Teacher, TeachResponse

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


def teach_section(url: str, **kw) -> dict:
    return {"plugin": "openai", "model": "gpt-4o", "base_url": url + "/v1", "api_key": KEY, **kw}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rpm-images", type=int, default=300)
    ap.add_argument("--skip-ocr", action="store_true")
    ap.add_argument("--http-backend", default="aiohttp", choices=("httpx", "aiohttp"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_teach_"))
    folder = tmp / "images"
    make_images(folder, max(args.images, args.rpm_images))
    small = tmp / "images_rpm"
    make_images(small, args.rpm_images)

    # 1. throughput
    proc, url = start_server("--latency", str(args.latency))
    try:
        # the SDK imported before the clock starts: CPU per image is the calls' cost, not the
        # import's (seconds where the venv has no compiled bytecode; the stage's wall time below
        # still counts a client's start)
        import openai.types.chat  # noqa: F401

        run(folder, tmp / "run1", teach_section(url), to_stage="ingest")  # CPU below: the teach stage's
        cpu0 = time.process_time()
        m, _ = run(
            folder,
            tmp / "run1",
            teach_section(url, concurrency=args.concurrency, http_backend=args.http_backend),
        )
        cpu = time.process_time() - cpu0
        entry = m["stages"]["teach"]
        wall = entry["wall_time_s"]
        n = entry["counts"]["ok"]
        rate = n / wall
        ideal = args.concurrency / args.latency
        seed = seed_loop(folder, url, 25)  # measured, same server, same latency
        window = entry["facts"]["calls_window_s"]
        print(
            f"[throughput, SDK over {args.http_backend}] {n} images, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}: "
            f"stage {wall:.2f} s (of which {wall - window:.2f} s start-up: the client; the SDK imported before), "
            f"calls {window:.2f} s = {n / window:.1f} images/s = {n / window / ideal:.1%} of concurrency/latency "
            f"({ideal:.0f}/s), {n / window / seed:.1f}x the seed's sequential loop (measured: {seed:.2f}/s, "
            f"1/latency = {1 / args.latency:.0f}/s); "
            f"whole stage {rate:.1f} images/s = {rate / ideal:.1%} of the ideal, {rate / seed:.1f}x the seed; "
            f"client CPU {cpu / n * 1000:.2f} ms per image (the teach stage's; the SDK's import not counted)"
        )
        _SleepTeacherPlugin.latency = args.latency
        run(folder, tmp / "run_sleep", {"plugin": "sleep"}, to_stage="ingest")
        cpu0 = time.process_time()
        m, _ = run(folder, tmp / "run_sleep", {"plugin": "sleep", "concurrency": args.concurrency})
        cpu = time.process_time() - cpu0
        window = m["stages"]["teach"]["facts"]["calls_window_s"]
        print(
            f"[throughput, driver alone] the same with a teacher that sleeps {args.latency * 1000:.0f} ms "
            f"instead of HTTP: {n / window:.1f} images/s = {n / window / ideal:.1%} of concurrency/latency "
            f"(whole rounds of {args.concurrency}: at most {n / (-(-n // args.concurrency) * args.latency) / ideal:.1%}); "
            f"driver CPU {cpu / n * 1000:.2f} ms per image (the teach stage's)"
        )
        print(f"[conditions] load average {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
        # 3. re-runs
        before = stats(url)["requests"]
        m, secs = run(folder, tmp / "run1", teach_section(url, concurrency=args.concurrency))
        print(
            f"[re-run, stage up to date] requests {stats(url)['requests'] - before}, {secs:.2f} s "
            f"(teach: {m['stages']['teach']['status']})"
        )
        m, secs = run(
            folder, tmp / "run1", teach_section(url, concurrency=args.concurrency), from_stage="teach"
        )
        u = m["stages"]["teach"]["usage"]
        print(
            f"[re-run --from teach, from the cache] requests {stats(url)['requests'] - before}, "
            f"{secs:.2f} s for the whole run, teach stage {m['stages']['teach']['wall_time_s']:.2f} s, "
            f"{u['cached']} cached answers"
        )
    finally:
        proc.terminate()

    # 2. server-enforced rate limit
    for label, extra in (("no client limit", {}), ("rpm: 600", {"rpm": 600})):
        proc, url = start_server("--rpm", "600", "--burst", "10")
        try:
            m, _ = run(small, tmp / f"run_rpm_{len(extra)}", teach_section(url, concurrency=32, **extra))
            entry = m["stages"]["teach"]
            s = stats(url)
            ok, wall = entry["counts"]["ok"], entry["wall_time_s"]
            sustained = ok / wall * 60
            print(
                f"[rate limit 600/min, {label}] {ok}/{args.rpm_images} images in {wall:.1f} s: "
                f"{sustained:.0f} requests/min = {sustained / 600:.1%} of the limit; "
                f"lost {args.rpm_images - ok}; 429s answered by the server {s['statuses'].get('429', 0)}"
            )
        finally:
            proc.terminate()

    # 4. ocr_context overhead: what the hint adds to each prompt, and what reading it costs
    if not args.skip_ocr:
        from vlkd.core.teach.options import TeacherOptions
        from vlkd.core.teach.prompts import PromptSet
        from vlkd.core.teach.teacher import image_tokens, text_tokens
        from vlkd.plugins.teach.ocr_engine import ocr_text
        from vlkd.plugins.teach.prompts import automotive_pack

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
