"""vlkd's teach stage and bespokelabs-curator side by side on one server (run by hand; nothing asserted).

    python benchmarks/bench_vs_curator.py [--images 500] [--latency 0.2] [--concurrency 32]
                                          [--curator-python /work/curator-venv/bin/python]

Both ask the same local OpenAI-wire server (``vlkd.testing.fake_provider``, its own process, a
fixed latency per call) about the same images, each image in its request (base64, as a chat
``image_url``), with the same number of requests in flight: vlkd's ``teach.concurrency`` and
curator's ``max_concurrent_requests`` (its requests/min and tokens/min set far above what the
server can give, so that concurrency alone paces it). Each runs as a whole process (start-up,
imports and all): wall time, images/s, CPU seconds (user + system) and peak RSS, read from the
kernel by ``wait4``; the server counts the requests each was paid for.

curator lives in its own virtual environment (``python3 -m venv /work/curator-venv &&
/work/curator-venv/bin/pip install bespokelabs-curator``), never in vlkd's. Offline it needs:
telemetry off (``TELEMETRY_ENABLED=false``), litellm's bundled price map
(``LITELLM_LOCAL_MODEL_COST_MAP=True``), tiktoken's cl100k_base from the copy litellm ships
(``TIKTOKEN_CACHE_DIR``), and a cache directory of its own per run (else a second run is served
from its cache).

Both run with compiled bytecode in one ``PYTHONPYCACHEPREFIX`` of the benchmark's, after an
untimed warm-up run of each: pip compiles a package's bytecode when it installs it, uv does not,
and a shared venv without it (``PYTHONDONTWRITEBYTECODE=1``) spends seconds compiling the SDKs at
every start, which is not what a user's second run costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_teach import KEY, make_images, start_server, stats

CURATOR_SCRIPT = r"""
import sys, time
from pathlib import Path

from bespokelabs import curator

folder, url, key, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
PROMPT = "为这张图片生成中文问答对, 每行一个: \"问题\",\"答案\""


class Teach(curator.LLM):
    def prompt(self, row):
        # a local path: curator reads and base64-encodes the file (content=bytes is sent as text)
        return PROMPT, curator.types.Image(url=row["path"], mime_type="image/png")

    def parse(self, row, response):
        return [{"path": row["path"], "answer": response}]


rows = [{"path": str(p)} for p in sorted(Path(folder).glob("*.png"))]
llm = Teach(
    model_name="gpt-4o",
    backend="openai",
    backend_params={
        "base_url": url,
        "api_key": key,
        "max_concurrent_requests": concurrency,
        "max_requests_per_minute": 1_000_000,
        "max_tokens_per_minute": 1_000_000_000,
        "max_retries": 2,
        "request_timeout": 60,
    },
)
t0 = time.perf_counter()
out = llm(rows)
dataset = getattr(out, "dataset", out)
print("CURATOR_ROWS", len(dataset), "CALL_SECONDS", round(time.perf_counter() - t0, 3), flush=True)
"""


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd`` to its end: wall seconds, CPU seconds, peak RSS (MiB), exit status, output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": time.perf_counter() - t0,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "code": proc.returncode,
        "out": "".join(out_lines),
    }


def bytecode_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(tmp.parent / "bench_vs_curator_pycache")}


def run_vlkd(tmp: Path, folder: Path, url: str, concurrency: int, name: str = "vlkd") -> dict:
    recipe = tmp / f"{name}.yaml"
    teach = {
        "plugin": "openai",
        "model": "gpt-4o",
        "base_url": url + "/v1",
        "api_key": KEY,
        "concurrency": concurrency,
    }
    recipe.write_text(
        json.dumps(
            {
                "name": "bench",
                "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1},
                "teach": teach,
            }
        ),
        encoding="utf-8",
    )
    rd = tmp / f"{name}-run"
    env = bytecode_env({**os.environ, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1"}, tmp)
    res = measure([sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--quiet"], env)
    if res["code"] == 0:
        manifest = json.loads((rd / "manifest.json").read_text())
        res["ok"] = manifest["stages"]["teach"]["counts"]["ok"]
        res["window"] = manifest["stages"]["teach"]["facts"].get("calls_window_s")
    return res


def curator_env(python: str, tmp: Path) -> dict[str, str]:
    site = subprocess.run(
        [python, "-c", "import litellm, os; print(os.path.dirname(litellm.__file__))"],
        capture_output=True,
        text=True,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    ).stdout.strip()
    env = bytecode_env({k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}, tmp)
    env.update(
        TELEMETRY_ENABLED="false",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        CURATOR_DISABLE_RICH_DISPLAY="1",
    )
    if site:
        env["TIKTOKEN_CACHE_DIR"] = os.path.join(site, "litellm_core_utils", "tokenizers")
    return env


def run_curator(
    python: str, tmp: Path, folder: Path, url: str, concurrency: int, name: str = "curator"
) -> dict:
    script = tmp / "curator_teach.py"
    script.write_text(CURATOR_SCRIPT, encoding="utf-8")
    env = {**curator_env(python, tmp), "CURATOR_CACHE_DIR": str(tmp / f"{name}-cache")}
    res = measure([python, str(script), str(folder), url + "/v1", KEY, str(concurrency)], env)
    for line in res["out"].splitlines():
        if line.startswith("CURATOR_ROWS"):
            parts = line.split()
            res["ok"], res["window"] = int(parts[1]), float(parts[3])
    return res


def row(name: str, res: dict, n: int, paid: int, ideal: float) -> str:
    if res["code"] != 0 or "ok" not in res:
        tail = "\n    ".join(res["out"].strip().splitlines()[-8:])
        return f"{name}: exit {res['code']}, failed:\n    {tail}"
    rate = n / res["wall"]
    window = res.get("window")
    in_window = (
        f", {n / window:.1f} images/s in its calls ({n / window / ideal:.1%} of the ideal)" if window else ""
    )
    return (
        f"{name}: {res['ok']} of {n} images, {paid} requests paid; whole process {res['wall']:.2f} s = "
        f"{rate:.1f} images/s ({rate / ideal:.1%} of concurrency/latency){in_window}; "
        f"CPU {res['cpu']:.2f} s ({res['cpu'] / n * 1000:.1f} ms per image); peak RSS {res['rss']:.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--curator-python", default="/work/curator-venv/bin/python")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_vs_curator_"))
    folder = tmp / "images"
    make_images(folder, args.images)
    warm = tmp / "warm-up"
    make_images(warm, args.concurrency)
    have_curator = Path(args.curator_python).exists()
    ideal = args.concurrency / args.latency
    server, url = start_server("--latency", str(args.latency))
    try:
        print(
            f"{args.images} images, {args.latency * 1000:.0f} ms per call, concurrency {args.concurrency} "
            f"(ideal {ideal:.0f} images/s); load average {os.getloadavg()[0]:.1f}"
        )
        run_vlkd(tmp, warm, url, args.concurrency, "warm-up")  # bytecode compiled, untimed
        if have_curator:
            run_curator(args.curator_python, tmp, warm, url, args.concurrency, "warm-up")
        before = stats(url)["requests"]
        vlkd = run_vlkd(tmp, folder, url, args.concurrency)
        mid = stats(url)["requests"]
        print(row("vlkd", vlkd, args.images, mid - before, ideal), flush=True)
        if not have_curator:
            print(f"curator: not installed ({args.curator_python} missing); see this file's docstring")
            return
        cur = run_curator(args.curator_python, tmp, folder, url, args.concurrency)
        print(row("curator", cur, args.images, stats(url)["requests"] - mid, ideal))
        if vlkd.get("ok") and cur.get("ok"):
            print(
                f"vlkd / curator: {cur['wall'] / vlkd['wall']:.2f}x the whole-process rate, "
                f"{vlkd['cpu'] / cur['cpu']:.2f}x the CPU, {vlkd['rss'] / cur['rss']:.2f}x the peak memory; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
