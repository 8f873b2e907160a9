"""The review page on a phone (390 x 844, in real Chromium): the first pair is on the first screen,
without scrolling, and nothing scrolls sideways; the desktop keeps the image left, pairs right.
Boxes, not timings: what a person sees."""

import pytest

from .test_browser import browser  # noqa: F401  (the module's Chromium, skipped without it)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def first_screen(browser, url, viewport):  # noqa: F811
    context = browser.new_context(viewport=viewport, locale="en-US")
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(".pair")
    boxes = {
        "pair": page.locator(".pair").first.bounding_box(),
        "stage": page.locator("#stage").bounding_box(),
        "scroll_y": page.evaluate("window.scrollY"),
        "page_width": page.evaluate("document.documentElement.scrollWidth"),
    }
    return context, page, boxes


def within(box, viewport):
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    )


@pytest.mark.parametrize("team", [False, True])
def test_on_a_phone_the_first_pair_is_on_the_first_screen(request, serve, browser, team):  # noqa: F811
    run = request.getfixturevalue("team_run" if team else "review_run")  # both fill tmp_path: one
    server = serve(run.run_dir)
    url = f"http://127.0.0.1:{server.port}/" + (f"?key={run.keys['li']}" if team else "")
    context, page, boxes = first_screen(browser, url, PHONE)
    try:
        assert boxes["scroll_y"] == 0  # the page did not have to scroll to show it
        assert within(boxes["pair"], PHONE), boxes
        assert boxes["page_width"] <= PHONE["width"]  # nothing wider than the phone
        assert boxes["stage"]["y"] + boxes["stage"]["height"] <= boxes["pair"]["y"]  # the image above it
        assert page.locator("#image-name").is_visible()  # which image, still named
    finally:
        context.close()


def test_on_a_desktop_the_image_stays_left_and_the_pairs_right(review_run, serve, browser):  # noqa: F811
    server = serve(review_run.run_dir)
    context, _page, boxes = first_screen(browser, server.url, DESKTOP)
    try:
        assert within(boxes["pair"], DESKTOP)
        assert boxes["pair"]["x"] >= boxes["stage"]["x"] + boxes["stage"]["width"] - 1
        assert boxes["stage"]["height"] >= DESKTOP["height"] / 2
    finally:
        context.close()
