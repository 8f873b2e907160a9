// vlkd review page, a team review: the reviewer's name from their key, the other reviewers' decisions
// (when the server shows them), the lead's view of disagreements and the agreement figures.
// Runs before review.js and uses its functions (act, loadQueue, state) only when called from it.
// The server decides what each reviewer may see; this only shows it. Text only as text.
"use strict";

(() => {
  const TEAM = JSON.parse(document.getElementById("config").textContent).team;
  const WORDS = {
    zh: {
      lead: "组长", reviewer: "审核人", view: "视图", all_images: "全部图像",
      to_settle: (n) => `待裁决（${n}）`, agreement: "一致性", teacher: "教师模型",
      take: "采用", hidden: (n) => `盲审：另有 ${n} 位审核人的决定在你们都完成后显示`,
      waiting: "等待其他审核人", lead_waiting: "等待审核人", agreed: "一致", disagree: "不一致，待组长裁决",
      adjudicated: "组长已裁决", single: "单人审核", open: "未审核", added: "专家新增", final: (w) => `${w} 的最终决定`,
      locked: "各审核人均已决定（盲审），决定已锁定；分歧由组长裁决。",
      figures: "一致性指标", category: "类别", pairs: "双人审核对数", observed: "观察一致率",
      coefficient: "κ / α", edited_same: "修改一致", decided: "已决定", with_result: "与最终结果一致",
      settled: "已定", teacher_agreement: "教师答案被保留", overall: "全部", close: "关闭",
      standing: "状态", none: "暂无数据", settled_progress: (r, n, p) => `已定 ${r} / ${n}（${p}%）`,
    },
    en: {
      lead: "lead", reviewer: "reviewer", view: "view", all_images: "all images",
      to_settle: (n) => `to settle (${n})`, agreement: "agreement", teacher: "teacher",
      take: "take this", hidden: (n) => `blind review: ${n} other decision(s) shown once you have all decided`,
      waiting: "waiting for the other reviewer", lead_waiting: "waiting for a reviewer", agreed: "agreed", disagree: "disagreement: the lead settles it",
      adjudicated: "settled by the lead", single: "one reviewer", open: "not reviewed", added: "added by an expert", final: (w) => `final decision by ${w}`,
      locked: "Every reviewer has decided (blind review): decisions are locked; the lead settles disagreements.",
      figures: "Agreement", category: "category", pairs: "pairs decided twice", observed: "observed",
      coefficient: "κ / α", edited_same: "edited alike", decided: "decided", with_result: "agrees with result",
      settled: "settled", teacher_agreement: "teacher's answer kept", overall: "all", close: "close",
      standing: "standing", none: "no data yet", settled_progress: (r, n, p) => `${r} of ${n} settled (${p}%)`,
    },
  };
  const lang = () => (typeof state !== "undefined" && state.lang === "zh" ? "zh" : "en");
  const w = (key, ...args) => {
    const value = WORDS[lang()][key];
    return typeof value === "function" ? value(...args) : value;
  };
  const node = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);
  const num = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));

  // -- header: who I am (from the key), the lead's view and figures -----------------------------
  document.body.classList.add("team", `role-${TEAM.role}`);
  const who = document.querySelector(".who");
  const input = document.getElementById("reviewer");
  input.closest("label").hidden = true; // the key says who decides, not a typed name
  if (TEAM.role !== "lead") document.getElementById("add").hidden = true; // the lead adds pairs
  const me = node("span", "me");
  const meName = node("b", "", TEAM.name);
  const meRole = node("span", "role-badge");
  me.append(meName, " ", meRole);
  who.prepend(me);
  let viewSelect = null;
  let settleCount = 0;
  if (TEAM.role === "lead") {
    const label = node("label", "team-view");
    const caption = node("span");
    viewSelect = node("select");
    viewSelect.id = "f-view";
    viewSelect.dataset.filter = "view";
    label.append(caption, " ", viewSelect);
    document.querySelector(".filters").prepend(label);
    viewSelect.addEventListener("change", () => { if (leaveOk()) loadQueue(); });
    const button = node("button", "figures-button");
    button.type = "button";
    button.id = "figures-button";
    who.insertBefore(button, document.getElementById("lang"));
    button.addEventListener("click", openFigures);
    const dialog = node("dialog", "figures");
    dialog.id = "figures";
    document.body.append(dialog);
  }

  function relabel() {
    meRole.textContent = w(TEAM.role);
    if (!viewSelect) return;
    viewSelect.parentElement.firstChild.textContent = w("view");
    const value = viewSelect.value || "";
    viewSelect.replaceChildren(
      Object.assign(node("option", "", w("all_images")), { value: "" }),
      Object.assign(node("option", "", w("to_settle", settleCount)), { value: "settle" }),
    );
    viewSelect.value = value;
    document.getElementById("figures-button").textContent = w("agreement");
  }
  relabel();
  // after review.js's own listener has switched the language
  document.getElementById("lang").addEventListener("click", () => setTimeout(relabel, 0));

  // -- a pair: the team's work on it -----------------------------------------------------------
  function decorate(card, pair) {
    const info = pair.team;
    if (!info) return;
    const badges = card.querySelector(".badges");
    if (TEAM.role === "lead" && info.standing !== "adjudicated") {
      badges.querySelector(`.badge.${pair.review}`).hidden = true; // the teacher's status, not a decision
    }
    const mine = TEAM.role !== "lead" && pair.review === "pending"; // nobody waits but me
    if (!(mine && ["open", "waiting"].includes(info.standing))) {
      const label = TEAM.role === "lead" && info.standing === "waiting" ? w("lead_waiting") : w(info.standing);
      badges.append(node("span", `badge standing ${info.standing}`, label));
    }
    const box = node("div", "team-box");
    if (info.teacher) {
      box.append(row(w("teacher"), { ...info.teacher, review: "teacher" }, null));
    }
    for (const other of info.others || []) box.append(row(other.reviewer, other, TEAM.role === "lead" ? card : null));
    if (info.final) box.append(row(w("final", info.final.reviewer), info.final, null));
    if (info.others_hidden) box.append(node("p", "hint blind", w("hidden", info.others_hidden)));
    if (box.childElementCount) card.querySelector(".actions").before(box);
    const locked = TEAM.blind && TEAM.role !== "lead" && pair.review !== "pending"
      && ["agreed", "disagree", "adjudicated"].includes(info.standing);
    if (locked) {
      card.classList.add("locked");
      card.querySelectorAll(".actions button, textarea, .actions input").forEach((b) => { b.disabled = true; });
      card.querySelector(".actions").after(node("p", "hint", w("locked")));
    }
  }

  function row(name, decision, card) {
    const line = node("div", `team-row ${decision.review}`);
    line.append(node("span", "who-name", name));
    line.append(decision.review === "teacher" ? node("span") : node("span", `badge ${decision.review}`, t(decision.review)));
    const text = node("span", "team-answer", decision.review === "rejected" ? "" : decision.answer);
    if (decision.question && card && card._pair && decision.question !== card._pair.question) {
      text.textContent = `${decision.question} → ${decision.answer}`;
    }
    line.append(text);
    if (card) { // the lead takes a reviewer's decision as the final one
      const take = node("button", "take", w("take"));
      take.type = "button";
      take.addEventListener("click", () => {
        card.querySelector(".question").value = decision.question;
        card.querySelector(".answer").value = decision.answer;
        card.querySelector(".neg").checked = decision.negative;
        const action = decision.review === "rejected" ? "reject" : decision.review === "edited" ? "edit" : "approve";
        act(card, action);
      });
      line.append(take);
    }
    return line;
  }

  function progress(p) {
    if (p.to_settle === undefined || !viewSelect) return;
    settleCount = p.to_settle;
    const share = p.total ? Math.floor((100 * p.reviewed) / p.total) : 0;
    document.getElementById("progress-text").textContent = w("settled_progress", p.reviewed, p.total, share);
    relabel();
  }

  // -- the lead's agreement figures ---------------------------------------------------------------
  async function openFigures() {
    const dialog = document.getElementById("figures");
    dialog.replaceChildren(node("h2", "", w("figures")), node("p", "hint", "…"));
    dialog.showModal();
    const response = await fetch("/api/team/figures", { credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) { dialog.replaceChildren(node("p", "", data.error || String(response.status))); return; }
    const close = node("button", "", w("close"));
    close.type = "button";
    close.addEventListener("click", () => dialog.close());
    const blocks = [["overall", w("overall"), data.overall], ...Object.entries(data.per_category).map(([c, b]) => [c, c, b])];
    dialog.replaceChildren(
      node("h2", "", w("figures")),
      table("figures-categories", [w("category"), w("pairs"), w("observed"), w("coefficient"), w("edited_same")],
        blocks.map(([, label, b]) => [label, String(b.pairs), pct(b.observed),
          b.kappa !== undefined ? `κ ${num(b.kappa)}` : b.alpha !== undefined ? `α ${num(b.alpha)}` : "–",
          b.edited ? `${pct(b.edited_same)} (${b.edited})` : "–"])),
      table("figures-reviewers", [w("reviewer"), w("decided"), w("observed"), w("with_result")],
        Object.entries(data.per_reviewer).map(([name, r]) => [name, String(r.decided), pct(r.observed),
          r.judged ? `${pct(r.with_result)} (${r.judged})` : "–"])),
      node("p", "teacher-line",
        `${w("teacher_agreement")}: ${pct(data.teacher.agreement)} (${w("settled")} ${data.teacher.settled})`),
      node("p", "hint", `${w("standing")}: ${Object.entries(data.standing).map(([k, v]) => `${w(k === "waiting" ? "lead_waiting" : k)} ${v}`).join(" · ")}`),
      close,
    );
  }

  function table(id, head, rows) {
    const box = node("table", "figures-table");
    box.id = id;
    const tr = node("tr");
    for (const h of head) tr.append(node("th", "", h));
    box.append(tr);
    if (!rows.length) {
      const empty = node("tr");
      const cell = node("td", "hint", w("none"));
      cell.colSpan = head.length;
      empty.append(cell);
      box.append(empty);
    }
    for (const r of rows) {
      const line = node("tr");
      r.forEach((value, i) => line.append(node("td", i ? "num" : "", value)));
      box.append(line);
    }
    return box;
  }

  window.vlkdTeam = { decorate, progress };
})();
