"""A team review in a real Chromium: one browser context per reviewer and one for the lead.

Set VLKD_SCREENSHOT_DIR to keep the screenshots (a reviewer's queue and the lead's adjudication
view at 1280 and 390 px wide) for a person to look at.
"""

from .test_browser import browser, expect, shot  # noqa: F401 - the fixture


def member(browser, server, key, width=1280, height=860):  # noqa: F811 - the fixture's name
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    page.errors = []
    page.dialogs = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.base_url}?key={key}")
    return page


def test_two_reviewers_and_a_lead_divide_review_and_settle_in_the_browser(team_run, serve, browser):  # noqa: F811
    from vlkd.plugins.review.team.admin import revoke

    server = serve(team_run.run_dir)
    li = member(browser, server, team_run.keys["li"])
    li.wait_for_selector(".pair")
    assert li.url == server.base_url  # the key left the address bar
    expect(li.locator(".me")).to_contain_text("li")
    expect(li.locator("#reviewer")).to_be_hidden()  # no name to type: the key says who
    expect(li.locator("#position")).to_contain_text("image 1 of 4")  # li's own queue, not all 6
    cards = li.locator(".pair")
    assert "ungrounded" in cards.nth(0).inner_text()  # the riskiest image first
    li.keyboard.press("a")
    cards.nth(0).locator(".badges > .badge.approved").wait_for()
    expect(cards.nth(0).locator(".badge.standing")).to_contain_text("waiting for the other reviewer")
    cards.nth(1).locator("button.approve").click()
    cards.nth(1).locator(".badges > .badge.approved").wait_for()
    shot(li, "reviewer-queue", 1280)
    shot(li, "reviewer-queue", 390)

    wang = member(browser, server, team_run.keys["wang"])
    wang.wait_for_selector(".pair")
    expect(wang.locator("#position")).to_contain_text("image 1 of 5")
    first = wang.locator(".pair").nth(0)
    expect(first.locator(".hint.blind")).to_contain_text("blind review: 1 other decision(s)")
    assert first.locator(".team-row").count() == 0  # li's decision is not shown before wang decides
    wang.keyboard.press("r")
    first = wang.locator(".pair").nth(0)
    first.locator(".badges > .badge.rejected").wait_for()
    expect(first.locator(".badge.standing")).to_contain_text("disagreement")
    expect(first.locator(".team-row")).to_contain_text("li")  # revealed once both decided
    expect(first.locator("button.approve")).to_be_disabled()  # blind: locked once both decided
    wang.locator("#lang").click()
    expect(wang.locator(".role-badge")).to_have_text("审核人")
    shot(wang, "reviewer-revealed-zh", 390)
    wang.locator("#lang").click()
    wang.locator(".pair").nth(1).locator("button.approve").click()
    expect(wang.locator(".pair").nth(1).locator(".badge.standing")).to_contain_text("agreed")

    lead = member(browser, server, team_run.keys["zhao"])
    lead.wait_for_selector(".pair")
    expect(lead.locator("#position")).to_contain_text("image 1 of 6")  # the lead sees everything
    expect(lead.locator("#f-view option").nth(1)).to_have_text("to settle (1)")
    lead.locator("#f-view").select_option("settle")
    expect(lead.locator("#position")).to_contain_text("image 1 of 1")
    disputed = lead.locator(".pair").nth(0)
    rows = disputed.locator(".team-row")
    expect(rows).to_have_count(3)  # the teacher, li, wang
    expect(rows.nth(0)).to_contain_text("teacher")
    shot(lead, "lead-adjudication", 1280)
    shot(lead, "lead-adjudication", 390)
    rows.filter(has_text="wang").locator("button.take").click()
    disputed = lead.locator(".pair").nth(0)
    disputed.locator(".badges > .badge.rejected").wait_for()
    expect(disputed.locator(".badge.standing")).to_contain_text("settled by the lead")
    # the figures: pairs decided twice: 2; li (approved, approved), wang (rejected, approved):
    # observed 1/2; kappa = (0.5 - 0.5) / (1 - 0.5) = 0; li agrees with the result on 1 of 2, wang 2 of 2
    lead.locator("#figures-button").click()
    overall = lead.locator("#figures-categories tr").nth(1)
    expect(overall).to_contain_text("50%", timeout=120_000)  # the figures' first import takes a moment
    assert overall.locator("td").all_inner_texts() == ["all", "2", "50%", "κ 0.00", "–"]
    reviewers = {
        r.locator("td").nth(0).inner_text(): r.locator("td").nth(3).inner_text()
        for r in lead.locator("#figures-reviewers tr").all()[1:]
    }
    assert reviewers == {"li": "50% (2)", "wang": "100% (2)"}
    shot(lead, "lead-figures", 1280)
    lead.keyboard.press("Escape")
    # li's view now shows the lead's word
    li.reload()
    li.wait_for_selector(".pair")
    expect(li.locator(".pair").nth(0).locator(".team-row", has_text="final decision by zhao")).to_have_count(
        1
    )
    # a revoked key is refused at the next request
    revoke(team_run.run_dir, "li")
    response = li.goto(server.base_url)
    assert response.status == 403 and "revoked" in li.content()
    assert not li.errors and not wang.errors and not lead.errors


def test_a_reviewers_hostile_text_reaches_the_others_as_text(team_run, serve, browser):  # noqa: F811
    from .conftest import XSS

    server = serve(team_run.run_dir)
    li = member(browser, server, team_run.keys["li"])
    li.wait_for_selector(".pair")
    answer = li.locator(".pair").nth(0).locator(".answer")
    answer.fill(XSS)
    answer.press("Control+Enter")
    li.locator(".pair").nth(0).locator(".badges > .badge.edited").wait_for()
    wang = member(browser, server, team_run.keys["wang"])
    wang.wait_for_selector(".pair")
    wang.keyboard.press("a")
    expect(wang.locator(".pair").nth(0).locator(".team-row")).to_contain_text(XSS)
    lead = member(browser, server, team_run.keys["zhao"])
    lead.locator("#f-view").select_option("settle")
    expect(lead.locator(".pair").nth(0).locator(".team-row", has_text=XSS)).to_have_count(1)
    for page in (wang, lead):
        assert page.locator(".pairs img").count() == 0  # no element was made from it
    lead.wait_for_timeout(300)
    assert not li.errors and not wang.errors and not lead.errors
    assert not li.dialogs and not wang.dialogs and not lead.dialogs
