"""The review page's HTML: a shell that the script fills in (all teacher text as text nodes)."""

from __future__ import annotations

import html
import json

_PAGE = """<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vlkd review · {title}</title>
<link rel="stylesheet" href="/static/review.css">
<script id="config" type="application/json">{config}</script>{team_head}
<script src="/static/review.js" defer></script>
</head>
<body>
<header class="bar">
  <div class="brand"><strong>vlkd</strong> <span data-i18n="review">review</span>
    <span class="run" title="run">{title}</span></div>
  <div class="progress">
    <div class="meter" aria-hidden="true"><div id="meter-fill"></div></div>
    <span id="progress-text"></span>
    <span id="last-run" class="last-run"></span>
    <details id="per-category"><summary data-i18n="per_category">per category</summary>
      <table id="category-table"></table></details>
  </div>
  <div class="filters">
    <label><span data-i18n="category">category</span> <select id="f-category"></select></label>
    <label><span data-i18n="status">status</span> <select id="f-status"></select></label>
    <label><span data-i18n="negative">negative</span> <select id="f-negative"></select></label>
    <label><span data-i18n="flag">flag</span> <select id="f-flag"></select></label>
    <label><span data-i18n="order">order</span> <select id="f-order"></select></label>
  </div>
  <div class="who">
    <label><span data-i18n="reviewer">reviewer</span> <input id="reviewer" maxlength="80" size="10"></label>
    <button id="lang" type="button">EN</button>
    <button id="help-button" type="button" title="?">?</button>
  </div>
</header>
<main>
  <section class="viewer">
    <div class="image-head">
      <button id="prev" type="button" data-i18n-title="prev_title">&larr;</button>
      <span id="position"></span>
      <button id="next" type="button" data-i18n-title="next_title">&rarr;</button>
      <span id="image-name" class="image-name"></span>
      <span id="image-tags" class="tags"></span>
    </div>
    <div class="stage" id="stage"><img id="image" alt="" draggable="false"{image_src}></div>
    <div class="zoom">
      <button id="zoom-out" type="button">&minus;</button>
      <button id="zoom-fit" type="button" data-i18n="fit">fit</button>
      <button id="zoom-in" type="button">+</button>
      <span id="zoom-level"></span>
      <span class="hint" data-i18n="zoom_hint"></span>
    </div>
  </section>
  <section class="pairs" aria-live="polite">
    <p id="empty" class="empty" hidden></p>
    <div id="pairs"></div>
    <p id="hidden-note" class="hint" hidden></p>
    <details class="add" id="add">
      <summary data-i18n="add_pair">add a pair</summary>
      <form id="add-form">
        <label><span data-i18n="question">question</span><textarea id="add-question" rows="2"></textarea></label>
        <label><span data-i18n="answer">answer</span><textarea id="add-answer" rows="2"></textarea></label>
        <label class="inline"><input type="checkbox" id="add-negative"> <span data-i18n="negative_long">negative</span></label>
        <button type="submit" data-i18n="add">add</button>
      </form>
    </details>
  </section>
</main>
<div id="toast" role="status" aria-live="polite" hidden></div>
<dialog id="help">
  <h2 data-i18n="shortcuts">shortcuts</h2>
  <table id="shortcut-table"></table>
  <form method="dialog"><button data-i18n="close">close</button></form>
</dialog>
</body>
</html>
"""


def _script_json(data: dict) -> str:
    # JSON inside <script>: no "</script>" or "<!--" can end or change the element
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


#: a team review's page: its script (before review.js, which it extends) and style
_TEAM_HEAD = """
<link rel="stylesheet" href="/static/team.css">
<script src="/static/team.js" defer></script>"""


def render_page(
    *, run_name: str, csrf: str, reviewer: str, team: dict | None = None, initial: dict | None = None
) -> str:
    """The page; ``initial`` (the first queue and image, as the API gives them) saves the page
    its first two requests, and the first image is in the HTML (``fetchpriority="high"``), so the
    browser asks for it while it reads the page and decodes it while the script loads. A team's
    page gets no ``initial``: each reviewer's queue is their own, asked for with their key."""
    config = {"csrf": csrf, "reviewer": reviewer, "run": run_name, "initial": initial}
    if team is not None:
        config["team"] = team
    image = (initial or {}).get("image")
    image_src = f' src="/{html.escape(image["url"])}" fetchpriority="high"' if image else ""
    return _PAGE.format(
        title=html.escape(run_name),
        config=_script_json(config),
        image_src=image_src,
        team_head=_TEAM_HEAD if team else "",
    )
