"""Takes the review page's screenshots that the docs show, in headless Chromium, so that they are
regenerated from the real page rather than made by hand.

    vlkd run recipes/demo.yaml --run-dir /tmp/shots --to review \
        --set review.auto_approve=false --set review.edits=null
    python docs/screenshots.py /tmp/shots                # writes docs/images/review-*.png

It serves RUN_DIR's review page on 127.0.0.1 (a free port), opens it at desktop (1280 px) and phone
(390 px) width in English and in Chinese, and writes the PNGs (``--out`` for another folder).
Needs ``pip install -e ".[dev]"`` (Playwright), Debian's ``chromium`` and a Chinese font
(``fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

SHOTS = {
    # name: (viewport width, height, browser language: the page follows it)
    "review-desktop": (1280, 800, "en-US"),
    "review-phone": (390, 844, "en-US"),
    "review-desktop-zh": (1280, 800, "zh-CN"),
    "review-phone-zh": (390, 844, "zh-CN"),
}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("docs/screenshots.py: chromium is not installed (apt-get install chromium)")


def check_cjk_font() -> None:
    """Without a Chinese font Chromium draws every Chinese character as a box."""
    import subprocess

    fc_list = shutil.which("fc-list")
    if fc_list and not subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout.strip():
        print("docs/screenshots.py: no Chinese font: apt-get install fonts-noto-cjk", file=sys.stderr)


def take(run_dir: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from vlkd.plugins.review.web.server import ReviewServer

    check_cjk_font()
    out.mkdir(parents=True, exist_ok=True)
    server = ReviewServer(run_dir, port=0, reviewer="docs").start_background()
    written = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            for name, (width, height, language) in SHOTS.items():
                context = browser.new_context(viewport={"width": width, "height": height}, locale=language)
                page = context.new_page()
                page.goto(server.url)
                page.wait_for_selector(".pair")
                page.evaluate("window.scrollTo(0, 0)")
                page.wait_for_timeout(300)
                path = out / f"{name}.png"
                page.screenshot(path=str(path))
                written.append(path)
                context.close()
            browser.close()
    finally:
        server.stop()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a run waiting for review")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images")
    args = parser.parse_args(argv)
    for path in take(args.run_dir, args.out):
        print(path)


if __name__ == "__main__":
    main()
