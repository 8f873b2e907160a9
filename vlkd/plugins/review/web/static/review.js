// vlkd review page: plain JavaScript, no build step, no library. Teacher text is only ever
// put into the page as text (textContent, value), never as HTML.
"use strict";

const CONFIG = JSON.parse(document.getElementById("config").textContent);

const TEXT = {
  zh: {
    review: "专家审核", per_category: "按类别", category: "类别", status: "状态", negative: "否定",
    flag: "标记", order: "顺序", reviewer: "审核人", fit: "适应", add_pair: "新增问答对",
    question: "问题", answer: "答案", negative_long: "否定答案（图中不存在）", add: "新增",
    shortcuts: "快捷键", close: "关闭", all: "全部", any_flag: "有标记", no_flag: "无标记",
    yes: "是", no: "否", risk_first: "风险优先", file_order: "文件顺序", reviewed: "已审核",
    pending: "待审", approved: "通过", rejected: "拒绝", edited: "已修改",
    approve: "通过", reject: "拒绝", save: "保存修改", undo: "撤回为待审", comment: "备注",
    image_of: (i, n) => `第 ${i} / ${n} 张`, progress: (r, n, p) => `已审核 ${r} / ${n}（${p}%）`,
    brand: "品牌", vehicle_model: "车型", teacher: "来源", saved: "已保存",
    student: "学生模型", student_title: "学生模型事先给出的答案（只读，不是待审的答案）",
    agrees: "与教师一致", differs: "与教师不同",
    no_images: "没有符合筛选条件的图像。", hidden: (n) => `另有 ${n} 个问答对被筛选隐藏。`,
    your_text: "你未保存的文本", conflict: "冲突", zoom_hint: "滚轮缩放，拖动平移，双击 1:1",
    prev_title: "上一张 (k)", next_title: "下一张 (j)", changed_by: (w) => `最后修改：${w}`,
    keys: [["j / →", "下一张图像"], ["k / ←", "上一张图像"], ["↓ / ↑", "选择问答对"], ["a", "通过"],
      ["r", "拒绝"], ["e", "编辑答案"], ["Ctrl+Enter", "保存修改"], ["Esc", "取消编辑"],
      ["u", "撤回为待审"], ["c", "备注"], ["+ / − / 0", "放大 / 缩小 / 适应"], ["?", "帮助"]],
    network: "无法连接审核服务器；修改未保存。",
    discard: "有未保存的修改。放弃这些修改吗？",
  },
  en: {
    review: "expert review", per_category: "per category", category: "category", status: "status",
    negative: "negative", flag: "flag", order: "order", reviewer: "reviewer", fit: "fit",
    add_pair: "add a pair", question: "question", answer: "answer",
    negative_long: "negative answer (not in the image)", add: "add", shortcuts: "shortcuts",
    close: "close", all: "all", any_flag: "any flag", no_flag: "no flag", yes: "yes", no: "no",
    risk_first: "risk first", file_order: "file order", reviewed: "reviewed",
    pending: "pending", approved: "approved", rejected: "rejected", edited: "edited",
    approve: "approve", reject: "reject", save: "save edit", undo: "back to pending",
    comment: "comment", image_of: (i, n) => `image ${i} of ${n}`,
    progress: (r, n, p) => `${r} of ${n} reviewed (${p}%)`, brand: "brand",
    vehicle_model: "vehicle model", teacher: "teacher", saved: "saved",
    student: "student", student_title: "the student model's own answer, asked before review (read only; not the answer under review)",
    agrees: "agrees with the teacher", differs: "differs from the teacher",
    no_images: "No image matches the filters.", hidden: (n) => `${n} more pair(s) hidden by the filters.`,
    your_text: "your unsaved text", conflict: "conflict",
    zoom_hint: "wheel to zoom, drag to pan, double-click for 1:1",
    prev_title: "previous image (k)", next_title: "next image (j)", changed_by: (w) => `last changed by ${w}`,
    keys: [["j / →", "next image"], ["k / ←", "previous image"], ["↓ / ↑", "select a pair"],
      ["a", "approve"], ["r", "reject"], ["e", "edit the answer"], ["Ctrl+Enter", "save the edit"],
      ["Esc", "cancel the edit"], ["u", "back to pending"], ["c", "comment"],
      ["+ / − / 0", "zoom in / out / fit"], ["?", "help"]],
    network: "Cannot reach the review server; the change was not saved.",
    discard: "An edit is not saved yet. Discard it?",
  },
};

const state = {
  lang: localStorage.getItem("vlkd-lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
  queue: [], queueTotal: 0, queueAsked: 0, pos: 0, image: null, selected: 0, progress: null, categories: [], flags: [],
  zoom: { scale: 1, x: 0, y: 0, fit: 1 },
};

const $ = (id) => document.getElementById(id);
const t = (key, ...args) => {
  const value = TEXT[state.lang][key];
  return typeof value === "function" ? value(...args) : (value ?? key);
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

// -- server -----------------------------------------------------------------------------
function filters() {
  const extra = [...document.querySelectorAll("select[data-filter]")].map((s) => [s.dataset.filter, s.value]);
  return {
    category: $("f-category").value, status: $("f-status").value,
    negative: $("f-negative").value, flag: $("f-flag").value, ...Object.fromEntries(extra),
  };
}

function query(extra = {}) {
  return new URLSearchParams({ ...filters(), ...extra }).toString();
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CONFIG.csrf },
      body: JSON.stringify({ ...body, reviewer: $("reviewer").value }),
    });
  } catch (err) {
    return { ok: false, status: 0, data: { error: t("network") } };
  }
  let data = {};
  try { data = await response.json(); } catch (err) { data = { error: `${response.status}` }; }
  return { ok: response.ok, status: response.status, data };
}

// -- labels and filters ---------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-title]").forEach((node) => { node.title = t(node.dataset.i18nTitle); });
  $("lang").textContent = state.lang === "zh" ? "EN" : "中文";
  fillSelect("f-status", [["", t("all")], ["pending", t("pending")], ["reviewed", t("reviewed")],
    ["approved", t("approved")], ["edited", t("edited")], ["rejected", t("rejected")]]);
  fillSelect("f-negative", [["", t("all")], ["yes", t("yes")], ["no", t("no")]]);
  fillSelect("f-order", [["risk", t("risk_first")], ["file", t("file_order")]]);
  fillSelect("f-category", [["", t("all")], ...state.categories.map((c) => [c, c])]);
  fillSelect("f-flag", [["", t("all")], ["any", t("any_flag")], ["none", t("no_flag")],
    ...state.flags.map((f) => [f, f])]);
  const table = $("shortcut-table");
  table.replaceChildren(...t("keys").map(([k, what]) => el("tr", {}, el("td", {}, el("kbd", { text: k })),
    el("td", { text: what }))));
  renderProgress();
  if (state.image) renderImage();
}

function fillSelect(id, options) {
  const select = $(id);
  const value = select.value;
  select.replaceChildren(...options.map(([v, label]) => el("option", { value: v, text: label })));
  if (options.some(([v]) => v === value)) select.value = value;
}

function renderProgress() {
  const p = state.progress;
  if (!p) return;
  const pct = p.total ? Math.floor((100 * p.reviewed) / p.total) : 0;
  $("progress-text").textContent = t("progress", p.reviewed, p.total, pct);
  $("last-run").textContent = p.last_run || "";
  $("meter-fill").style.width = `${pct}%`;
  $("category-table").replaceChildren(...Object.entries(p.categories).map(([name, c]) =>
    el("tr", {}, el("td", { text: name }), el("td", { class: "num", text: `${c.reviewed} / ${c.total}` }))));
  if (window.vlkdTeam) window.vlkdTeam.progress(p); // a team review (team.js)
}

// -- navigation ---------------------------------------------------------------------------
async function loadQueue(keepImage = false, initial = null) {
  const current = state.queue[state.pos];
  const asked = ++state.queueAsked;
  const data = initial ? initial.queue : await getJSON(`/api/queue?${query({ order: $("f-order").value || "risk" })}`);
  if (asked !== state.queueAsked) return; // a newer filter's queue is on its way
  state.queue = data.images;
  state.queueTotal = data.total || data.images.length;
  state.progress = data.progress;
  const newFlags = JSON.stringify(data.progress.flags) !== JSON.stringify(state.flags);
  const newCategories = JSON.stringify(data.categories) !== JSON.stringify(state.categories);
  state.flags = data.progress.flags;
  state.categories = data.categories;
  if (newFlags || newCategories) applyLanguage();
  renderProgress();
  const again = keepImage ? state.queue.indexOf(current) : -1;
  await show(again >= 0 ? again : 0, initial && initial.image);
}

function unsaved() {
  return [...document.querySelectorAll(".pair")].some((card) => card._dirty && card._dirty());
}

// leaving an image with an unsaved edit loses it: ask first
function leaveOk() {
  return !unsaved() || window.confirm(t("discard"));
}

async function go(pos) {
  pos = Math.max(0, Math.min(pos, state.queue.length - 1));
  if (pos === state.pos || !leaveOk()) return;
  await show(pos);
}

async function show(pos, known = null) {
  if (!state.queue.length) {
    state.image = null;
    $("empty").hidden = false;
    $("empty").textContent = t("no_images");
    $("pairs").replaceChildren();
    $("image").removeAttribute("src");
    $("position").textContent = "";
    $("image-name").textContent = "";
    $("image-tags").replaceChildren();
    return;
  }
  $("empty").hidden = true;
  state.pos = Math.max(0, Math.min(pos, state.queue.length - 1));
  const n = state.queue[state.pos];
  const data = known && known.index === n ? known : await getJSON(`/api/image/${n}?${query()}`);
  const sameImage = state.image && state.image.index === data.index;
  state.image = data;
  state.selected = 0;
  renderImage();
  if (!sameImage) {
    const img = $("image");
    img.onload = () => fitImage();
    const url = `/${data.url}`;
    if (img.getAttribute("src") !== url) img.src = url;
    // the first image came with the page, maybe loaded already; fitted after the pairs are in,
    // so that the one layout it needs is the page's last
    else if (img.complete) fitImage();
  }
}

function renderPosition() {
  $("position").textContent = t("image_of", state.pos + 1, state.queueTotal);
}

// the page carried the first images of its queue only: the rest once the first image shows
async function wholeQueue() {
  const asked = state.queueAsked;
  const data = await getJSON(`/api/queue?${query({ order: "risk" })}`);
  if (asked !== state.queueAsked) return; // a filter changed meanwhile: its queue is whole
  const current = state.queue[state.pos];
  state.queue = data.images;
  state.queueTotal = data.images.length;
  state.progress = data.progress;
  const at = state.queue.indexOf(current);
  if (at >= 0) state.pos = at;
  renderProgress();
  if (state.image) renderPosition();
}

function renderImage() {
  const data = state.image;
  renderPosition();
  $("image-name").textContent = data.name;
  $("image-name").title = data.name;
  const tags = [[t("category"), data.category], [t("brand"), data.brand], [t("vehicle_model"), data.vehicle_model]];
  $("image-tags").replaceChildren(...tags.filter(([, v]) => v).map(([k, v]) =>
    el("span", { class: "tag" }, el("span", { class: "tag-key", text: `${k} ` }), el("b", { text: v }))));
  $("pairs").replaceChildren(...data.pairs.map((pair, i) => pairCard(pair, i)));
  $("hidden-note").hidden = !data.hidden;
  $("hidden-note").textContent = data.hidden ? t("hidden", data.hidden) : "";
  select(Math.min(state.selected, data.pairs.length - 1));
}

function select(i) {
  const cards = [...document.querySelectorAll(".pair")];
  if (!cards.length) return;
  state.selected = Math.max(0, Math.min(i, cards.length - 1));
  cards.forEach((card, j) => card.classList.toggle("selected", j === state.selected));
  const card = cards[state.selected];
  const box = card.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) card.scrollIntoView({ block: "nearest" });
}

// -- pairs ---------------------------------------------------------------------------------
function pairCard(pair, i) {
  const card = el("article", { class: `pair status-${pair.review}`, "data-pair": pair.id });
  card.addEventListener("click", () => select(i));
  const badges = el("div", { class: "badges" },
    el("span", { class: "num", text: `#${i + 1}` }),
    el("span", { class: `badge ${pair.review}`, text: t(pair.review) }));
  if (pair.negative) badges.append(el("span", { class: "badge negative", text: t("negative") }));
  // a flag that is no doubt (the student already knows the pair) is told apart from a doubt
  for (const f of pair.flags) {
    badges.append(el("span", { class: f.doubt === false ? "badge flag calm" : "badge flag", title: f.reason,
      text: `${f.doubt === false ? "✓" : "⚑"} ${f.flag}` }));
  }
  const prov = [pair.provenance.plugin, pair.provenance.model].filter(Boolean).join(" · ");
  badges.append(el("span", { class: "prov", text: `${t("teacher")}: ${prov}` }));
  if (pair.changed_by) badges.append(el("span", { class: "prov", text: t("changed_by", pair.changed_by) }));
  card.append(badges);
  for (const f of pair.flags) {
    if (f.reason && f.doubt !== false) card.append(el("p", { class: "flag-reason", text: `⚑ ${f.check}: ${f.flag} — ${f.reason}` }));
  }
  const question = el("textarea", { class: "question", rows: "1", "aria-label": t("question") });
  question.value = pair.question;
  const answer = el("textarea", { class: "answer", rows: "1", "aria-label": t("answer") });
  answer.value = pair.answer;
  const negative = el("input", { type: "checkbox", class: "neg" });
  negative.checked = pair.negative;
  const comment = el("input", { class: "comment", placeholder: t("comment"), "aria-label": t("comment") });
  comment.value = pair.comment;
  const save = el("button", { type: "button", class: "save", text: `${t("save")} ⌃↵`, disabled: "" });
  const dirty = () => question.value.trim() !== pair.question.trim() || answer.value.trim() !== pair.answer.trim()
    || negative.checked !== pair.negative;
  const onInput = () => { save.disabled = !dirty(); card.classList.toggle("dirty", dirty()); autosize(question, answer); };
  for (const box of [question, answer]) box.addEventListener("input", onInput);
  // the flag follows the answer until the expert sets it; the server has the last word
  answer.addEventListener("input", () => {
    if (card._negTouched) return;
    const text = answer.value.trim();
    negative.checked = text === pair.answer.trim() ? pair.negative : text === "不存在";
    onInput();
  });
  negative.addEventListener("change", () => { card._negTouched = true; onInput(); });
  card.append(
    el("label", { class: "field" }, el("span", { text: t("question") }), question),
    el("label", { class: "field" }, el("span", { text: t("answer") }), answer),
  );
  if (pair.student) card.append(studentAnswer(pair));
  const actions = el("div", { class: "actions" },
    el("button", { type: "button", class: "approve", text: `${t("approve")} (a)`, onclick: () => act(card, "approve") }),
    el("button", { type: "button", class: "reject", text: `${t("reject")} (r)`, onclick: () => act(card, "reject") }),
    save,
    ...(pair.review === "pending" ? [] : [el("button", { type: "button", class: "undo", text: `${t("undo")} (u)`,
      onclick: () => act(card, "pending") })]),
    el("label", { class: "inline" }, negative, el("span", { text: ` ${t("negative")}` })),
    comment,
  );
  save.addEventListener("click", () => act(card, "edit"));
  comment.addEventListener("change", () => act(card, "comment"));
  card.append(actions, el("p", { class: "message", role: "alert" }));
  card._pair = pair;
  card._dirty = dirty;
  if (window.vlkdTeam) window.vlkdTeam.decorate(card, pair); // a team review (team.js)
  sizeLater(question, answer);
  return card;
}

// the student's own answer beside the teacher's: read only, untrusted model output (text only)
function studentAnswer(pair) {
  const knows = pair.flags.some((f) => f.doubt === false);
  const { answer, agreement } = pair.student;
  const verdict = `${knows ? "✓" : "≠"} ${t(knows ? "agrees" : "differs")}`
    + (agreement === null ? "" : ` · ANLS ${agreement.toFixed(2)}`);
  return el("div", { class: `field student ${knows ? "knows" : "wrong"}`, title: t("student_title") },
    el("span", { text: t("student") }),
    el("div", { class: "student-box" }, el("span", { class: "student-answer", text: answer }),
      el("span", { class: "verdict", text: verdict })));
}

// textareas as tall as their text: every height written, then every one read (one layout for
// all of them, not one per box), then set
function autosize(...boxes) {
  for (const box of boxes) box.style.height = "auto";
  const heights = boxes.map((box) => box.scrollHeight);
  boxes.forEach((box, i) => { box.style.height = `${heights[i] + 2}px`; });
}

// new cards' boxes are sized together just before the next frame is drawn
const toSize = [];
function sizeLater(...boxes) {
  if (!toSize.length) {
    requestAnimationFrame(() => autosize(...toSize.splice(0).filter((box) => box.isConnected)));
  }
  toSize.push(...boxes);
}

async function act(card, action) {
  const pair = card._pair;
  const body = { action, base: pair.version };
  if ((action === "approve" && card._dirty()) || action === "edit") {
    body.action = "edit";
    body.question = card.querySelector(".question").value;
    body.answer = card.querySelector(".answer").value;
    if (card._negTouched) body.negative = card.querySelector(".neg").checked;
  }
  if (action === "comment") body.comment = card.querySelector(".comment").value;
  const n = state.image.index;
  const result = await post(`/api/image/${n}/pair/${encodeURIComponent(pair.id)}`, body);
  const index = state.image.pairs.findIndex((p) => p.id === pair.id);
  if (result.ok) {
    state.image.pairs[index] = result.data.pair;
    const fresh = pairCard(result.data.pair, index);
    card.replaceWith(fresh);
    const note = fresh.querySelector(".message");
    note.textContent = `✓ ${t("saved")}`;
    setTimeout(() => note.classList.add("fade"), 1500);
    setTimeout(() => { if (note.classList.contains("fade")) note.textContent = ""; }, 2200);
    if (result.data.progress) { state.progress = result.data.progress; renderProgress(); }
    select(action === "approve" || action === "reject" ? index + 1 : index);
    return;
  }
  if (result.data.pair) { // refused: someone changed it; show theirs, keep ours visible
    const mine = { question: card.querySelector(".question").value, answer: card.querySelector(".answer").value };
    state.image.pairs[index] = result.data.pair;
    const fresh = pairCard(result.data.pair, index);
    card.replaceWith(fresh);
    fresh.classList.add("conflict");
    fresh.querySelector(".message").textContent = result.data.error;
    fresh.append(el("details", { class: "mine", open: "" }, el("summary", { text: t("your_text") }),
      el("pre", { text: `${t("question")}: ${mine.question}\n${t("answer")}: ${mine.answer}` })));
    select(index);
    return;
  }
  card.querySelector(".message").textContent = result.data.error || `${result.status}`;
  card.classList.add("error");
}

async function addPair(event) {
  event.preventDefault();
  const result = await post(`/api/image/${state.image.index}/add`, {
    question: $("add-question").value, answer: $("add-answer").value, negative: $("add-negative").checked,
  });
  if (!result.ok) { toast(result.data.error); return; }
  $("add-question").value = "";
  $("add-answer").value = "";
  $("add-negative").checked = false;
  state.image.pairs.push(result.data.pair);
  if (result.data.progress) state.progress = result.data.progress;
  renderProgress();
  renderImage();
  select(state.image.pairs.length - 1);
  toast(t("saved"));
}

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(box._timer);
  box._timer = setTimeout(() => { box.hidden = true; }, 4000);
}

// -- zoom and pan ---------------------------------------------------------------------------
function applyZoom() {
  const z = state.zoom;
  $("image").style.transform = `translate(${z.x}px, ${z.y}px) scale(${z.scale})`;
  $("zoom-level").textContent = `${Math.round(z.scale * 100)}%`;
}

function fitImage() {
  const img = $("image");
  const stage = $("stage").getBoundingClientRect();
  if (!img.naturalWidth || !stage.width) return;
  const scale = Math.min(stage.width / img.naturalWidth, stage.height / img.naturalHeight);
  state.zoom = { scale, fit: scale,
    x: (stage.width - img.naturalWidth * scale) / 2, y: (stage.height - img.naturalHeight * scale) / 2 };
  applyZoom();
}

function zoomAt(factor, cx, cy) {
  const z = state.zoom;
  const scale = Math.max(z.fit / 4, Math.min(z.scale * factor, 16));
  const k = scale / z.scale;
  z.x = cx - (cx - z.x) * k;
  z.y = cy - (cy - z.y) * k;
  z.scale = scale;
  applyZoom();
}

function zoomCenter(factor) {
  const stage = $("stage").getBoundingClientRect();
  zoomAt(factor, stage.width / 2, stage.height / 2);
}

function setupViewer() {
  const stage = $("stage");
  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = stage.getBoundingClientRect();
    zoomAt(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, zx: state.zoom.x, zy: state.zoom.y };
    stage.setPointerCapture(event.pointerId);
    stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    state.zoom.x = drag.zx + event.clientX - drag.x;
    state.zoom.y = drag.zy + event.clientY - drag.y;
    applyZoom();
  });
  const end = () => { drag = null; stage.classList.remove("dragging"); };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  stage.addEventListener("dblclick", (event) => {
    const box = stage.getBoundingClientRect();
    if (Math.abs(state.zoom.scale - 1) < 0.01) fitImage();
    else zoomAt(1 / state.zoom.scale, event.clientX - box.left, event.clientY - box.top);
  });
  $("zoom-in").addEventListener("click", () => zoomCenter(1.25));
  $("zoom-out").addEventListener("click", () => zoomCenter(1 / 1.25));
  $("zoom-fit").addEventListener("click", fitImage);
  window.addEventListener("resize", fitImage);
}

// -- keyboard -------------------------------------------------------------------------------
function selectedCard() {
  return document.querySelectorAll(".pair")[state.selected];
}

function onKey(event) {
  const target = event.target;
  const typing = target.matches("textarea, input:not([type=checkbox]), select");
  if (typing) {
    const card = target.closest(".pair");
    if (card && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      act(card, target.classList.contains("comment") ? "comment" : "edit");
    } else if (event.key === "Escape") {
      if (card) { card.replaceWith(pairCard(card._pair, state.selected)); select(state.selected); }
      else target.blur();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const card = selectedCard();
  const keys = {
    j: () => go(state.pos + 1), ArrowRight: () => go(state.pos + 1), n: () => go(state.pos + 1),
    k: () => go(state.pos - 1), ArrowLeft: () => go(state.pos - 1), p: () => go(state.pos - 1),
    ArrowDown: () => select(state.selected + 1), ArrowUp: () => select(state.selected - 1),
    a: () => card && act(card, "approve"), r: () => card && act(card, "reject"),
    u: () => card && act(card, "pending"),
    e: () => { if (card) { const box = card.querySelector(".answer"); box.focus(); box.setSelectionRange(box.value.length, box.value.length); } },
    c: () => card && card.querySelector(".comment").focus(),
    "+": () => zoomCenter(1.25), "=": () => zoomCenter(1.25), "-": () => zoomCenter(1 / 1.25), 0: fitImage,
    "?": () => $("help").showModal(),
  };
  const run = keys[event.key];
  if (run) { event.preventDefault(); run(); }
}

// -- start ------------------------------------------------------------------------------------
function start() {
  $("reviewer").value = localStorage.getItem("vlkd-reviewer") || CONFIG.reviewer;
  $("reviewer").addEventListener("change", () => localStorage.setItem("vlkd-reviewer", $("reviewer").value));
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("vlkd-lang", state.lang);
    applyLanguage();
  });
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("prev").addEventListener("click", () => go(state.pos - 1));
  $("next").addEventListener("click", () => go(state.pos + 1));
  for (const id of ["f-category", "f-status", "f-negative", "f-flag", "f-order"]) {
    $(id).addEventListener("change", () => { if (leaveOk()) loadQueue(); });
  }
  $("add-form").addEventListener("submit", addPair);
  document.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", (event) => { if (unsaved()) event.preventDefault(); });
  setupViewer();
  applyLanguage();
  // the page came with its first queue and image (no filter is set yet): no request before them
  const unfiltered = Object.values(filters()).every((v) => !v) && ($("f-order").value || "risk") === "risk";
  const initial = unfiltered ? CONFIG.initial : null;
  loadQueue(false, initial)
    .then(() => {
      usable();
      if (initial && initial.queue.total) return wholeQueue();
    })
    .catch((err) => toast(String(err)));
}

// "vlkd-usable" in the page's performance timeline: the first image decoded and its pairs shown
// (what benchmarks/bench_review.py reports, counted from the navigation's start)
function usable() {
  const img = $("image");
  const mark = () => performance.mark("vlkd-usable");
  if (!img.getAttribute("src")) return mark();
  img.decode().then(mark, mark);
}

start();
