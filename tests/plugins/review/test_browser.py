"""The review page in a real Chromium (Debian's, driven by Playwright): what an expert does.

Without Chromium or Playwright these tests skip, except under CI=true, where they fail:
CI must run them (.ci/run installs Chromium).
"""

import os
import shutil

import pytest

from .conftest import XSS

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str):
    if CI:
        pytest.fail(f"CI=true and {what} is missing: the browser tests must run in CI", pytrace=False)
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing('playwright (pip install "vlkd[dev]")')
    executable = next(
        (
            p
            for p in (
                shutil.which("chromium"),
                shutil.which("chromium-browser"),
                shutil.which("google-chrome"),
            )
            if p
        ),
        None,
    )
    if executable is None:
        _missing("chromium (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def open_page(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.dialogs = []
    page.errors = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector(".pair")
    return page


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def card(page, i):
    return page.locator(".pair").nth(i)


def shot(page, name, width):
    """With VLKD_SCREENSHOT_DIR set: the page at ``width`` px (390: the whole page) as
    ``NAME-WIDTH.png`` there, for a person to look at; then 1280 x 860 again."""
    folder = os.environ.get("VLKD_SCREENSHOT_DIR")
    if folder:
        page.set_viewport_size({"width": width, "height": 860})
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(folder, f"{name}-{width}.png"), full_page=width < 600)
        page.set_viewport_size({"width": 1280, "height": 860})


def test_approve_edit_reject_survive_a_reload_and_a_stale_edit_is_refused(review_run, serve, browser):
    server = serve(review_run.run_dir)
    page = open_page(browser, server)
    stale = open_page(browser, server)  # a second expert, loaded before the first one's changes
    # the image is shown, with its category, brand, vehicle model, position
    expect(page.locator("#image")).to_have_attribute("src", "/img/1")
    page.wait_for_load_state("networkidle")
    assert page.locator("#image").evaluate("img => img.naturalWidth") == 640  # decoded, shown
    assert "image 1 of 3" in page.locator("#position").inner_text()
    tags = page.locator("#image-tags").inner_text()
    assert "比亚迪" in tags and "Qin Plus" in tags and "part_recognition" in tags
    assert "ungrounded" in card(page, 0).inner_text() and "答案不在图中" in card(page, 0).inner_text()
    # approve the first pair with the keyboard
    page.keyboard.press("a")
    card(page, 0).locator(".badge.approved").wait_for()
    # edit the second pair's answer in place, save with Ctrl+Enter
    answer = card(page, 1).locator(".answer")
    answer.fill("Corrected by the expert.")
    answer.press("Control+Enter")
    card(page, 1).locator(".badge.edited").wait_for()
    # reject the third with its button
    card(page, 2).locator("button.reject").click()
    card(page, 2).locator(".badge.rejected").wait_for()
    assert "3 of 9 reviewed" in page.locator("#progress-text").inner_text()
    page.reload()
    page.wait_for_selector(".pair")
    assert [card(page, i).locator(".badge").first.inner_text() for i in range(3)] == [
        "approved",
        "edited",
        "rejected",
    ]
    assert card(page, 1).locator(".answer").input_value() == "Corrected by the expert."
    # the second expert edits the pair the first one changed: refused, with their version shown
    mine = card(stale, 1).locator(".answer")
    mine.fill("A different correction.")
    card(stale, 1).locator("button.save").click()
    refused = stale.locator(".pair.conflict .message")
    refused.wait_for()
    assert "changed by tester after you loaded it; your change was not saved" in refused.inner_text()
    assert card(stale, 1).locator(".answer").input_value() == "Corrected by the expert."
    assert "A different correction." in card(stale, 1).locator(".mine").inner_text()  # not lost either
    assert not page.errors and not stale.errors


def test_the_first_image_and_its_pairs_show_without_a_request_to_the_api(review_run, serve, browser):
    server = serve(review_run.run_dir)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url.split(str(server.port), 1)[-1]))
    page.goto(server.url)
    page.wait_for_selector(".pair")
    page.wait_for_function("() => document.getElementById('image').complete")
    assert page.locator("#image").evaluate("img => img.naturalWidth") > 0
    # the page, its stylesheet and script, and the first image (in the HTML): nothing else
    assert not [u for u in asked if u.startswith("/api/")], asked
    assert sum(1 for u in asked if u.startswith("/img/")) == 1, asked
    expect(page.locator("#position")).to_contain_text("image 1 of")
    page.locator("#next").click()  # the next image is asked for as before
    expect(page.locator("#position")).to_contain_text("image 2 of")
    assert any(u.startswith("/api/image/") for u in asked)
    context.close()


def test_a_long_queue_comes_whole_after_the_first_image(review_run, serve, browser, monkeypatch):
    from vlkd.plugins.review.web import app

    monkeypatch.setattr(app, "FIRST_PAGE", 1)  # the page carries one image of three
    server = serve(review_run.run_dir)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(server.url)
    expect(page.locator("#position")).to_have_text("image 1 of 3")
    page.wait_for_function("() => performance.getEntriesByName('vlkd-usable').length === 1")
    # the rest of the queue arrives after the first image shows: every image can be reached
    seen = [page.locator("#image").get_attribute("src")]
    for n in (2, 3):
        page.keyboard.press("j")
        expect(page.locator("#position")).to_have_text(f"image {n} of 3")
        expect(page.locator("#image")).not_to_have_attribute("src", seen[-1])
        seen.append(page.locator("#image").get_attribute("src"))
    assert sorted(seen) == ["/img/0", "/img/1", "/img/2"]
    context.close()


def test_teacher_html_shows_as_text(review_run, serve, browser):
    server = serve(review_run.run_dir)
    page = open_page(browser, server)
    page.keyboard.press("j")  # image 0 holds the hostile answer; risk-first shows image 1 first
    expect(page.locator("#position")).to_contain_text("2 of 3")
    answer = card(page, 0).locator(".answer")
    assert answer.input_value() == XSS
    assert page.locator(".pairs img").count() == 0  # no element was made from it
    page.wait_for_timeout(300)
    assert page.dialogs == [] and not page.errors


def test_shortcuts_filters_zoom_and_adding_a_pair(review_run, serve, browser):
    server = serve(review_run.run_dir)
    page = open_page(browser, server)
    page.keyboard.press("ArrowDown")
    assert "selected" in card(page, 1).get_attribute("class")
    page.keyboard.press("r")
    card(page, 1).locator(".badge.rejected").wait_for()
    before = page.locator("#zoom-level").inner_text()
    page.keyboard.press("+")
    assert page.locator("#zoom-level").inner_text() != before
    page.locator("#f-flag").select_option("any")
    expect(page.locator("#position")).to_contain_text("1 of 1")
    assert (
        page.locator(".pair").count() == 1
        and "2 more pair(s) hidden" in page.locator("#hidden-note").inner_text()
    )
    page.locator("#f-flag").select_option("")
    page.locator("#f-status").select_option("rejected")
    expect(page.locator(".pair")).to_have_count(1)
    page.locator("#f-status").select_option("")
    expect(page.locator(".pair")).to_have_count(3)
    page.locator("#add summary").click()
    page.locator("#add-question").fill("图中的零件号是多少？")
    page.locator("#add-answer").fill("不存在")
    page.locator("#add-negative").check()
    page.locator("#add-form button").click()
    expect(page.locator(".pair")).to_have_count(4)
    assert "approved" in card(page, 3).inner_text() and "expert" in card(page, 3).inner_text()
    # an unsaved edit is not dropped by moving on: the page asks (here: the expert says no)
    card(page, 0).locator(".answer").fill("half-typed")
    page.locator("#next").click()
    assert page.dialogs == ["An edit is not saved yet. Discard it?"]
    assert "image 1 of 3" in page.locator("#position").inner_text()
    assert card(page, 0).locator(".answer").input_value() == "half-typed"
    page.locator("#lang").click()
    assert "已审核" in page.locator("#progress-text").inner_text()
    assert not page.errors


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(tmp_path, ci):
    import subprocess
    import sys
    from pathlib import Path

    bin_dir = tmp_path / "bin"  # a PATH with python and no chromium
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PATH": str(bin_dir), "CI": ci, "PYTHONPATH": str(root)}
    test = f"{Path(__file__).resolve()}::test_teacher_html_shows_as_text"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
    )
    if ci:
        assert result.returncode != 0 and "CI=true and chromium" in result.stdout, result.stdout[-2000:]
    else:
        assert result.returncode == 0 and "1 skipped" in result.stdout, result.stdout[-2000:]


def test_a_run_that_rewrites_the_pairs_keeps_the_typed_text_and_says_reload(review_run, serve, browser):
    from vlkd.core.jsonl import read_jsonl, write_jsonl_atomic

    server = serve(review_run.run_dir)
    page = open_page(browser, server)
    shown = card(page, 0).locator(".answer").input_value()
    answer = card(page, 0).locator(".answer")
    answer.fill("The expert's correction, typed before the run changed.")
    # meanwhile a `vlkd run` re-ran a stage and dropped this pair (its file rewritten atomically)
    pairs_file = review_run.run_dir / "teach" / "pairs.jsonl"
    write_jsonl_atomic(pairs_file, [p for p in read_jsonl(pairs_file) if p["answer"] != shown])
    card(page, 0).locator("button.save").click()
    message = card(page, 0).locator(".message")
    expect(message).to_contain_text("the run changed")
    assert "reload the page" in message.inner_text()
    assert answer.input_value() == "The expert's correction, typed before the run changed."
    if os.environ.get("VLKD_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["VLKD_SCREENSHOTS"], "run-changed.png"))
    assert not page.errors


def test_the_negative_checkbox_follows_the_answer_being_typed(review_run, serve, browser):
    server = serve(review_run.run_dir)
    page = open_page(browser, server)
    answer, box = card(page, 1).locator(".answer"), card(page, 1).locator(".neg")
    assert not box.is_checked()
    answer.fill("不存在")
    assert box.is_checked()  # the expert sees the flag the answer gives
    answer.press("Control+Enter")
    card(page, 1).locator(".badge.negative").wait_for()
    answer, box = card(page, 1).locator(".answer"), card(page, 1).locator(".neg")
    answer.fill("15400-PLM-A02")
    assert not box.is_checked()
    answer.press("Control+Enter")
    expect(card(page, 1).locator(".badge.negative")).to_have_count(0)
    page.reload()
    page.wait_for_selector(".pair")
    assert card(page, 1).locator(".answer").input_value() == "15400-PLM-A02"
    assert not card(page, 1).locator(".neg").is_checked()
    assert not page.errors
