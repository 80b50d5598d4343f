// zhibu's Mini App: reads Telegram's launch data, sends it with every API call
// (Authorization: tma <initData>) and draws three views: Me, Branch, Committee.
// Every word comes from the server in the reader's language; all data goes in as text.
"use strict";

const hash = new URLSearchParams(location.hash.slice(1));
const tg = window.Telegram && window.Telegram.WebApp;
const initData = hash.get("tgWebAppData") || (tg && tg.initData) || "";
let T = {};
let me = null;
const state = { tab: "me", branch: null, year: null, sort: ["rank", 1], filter: "", parent: "" };

function theme() {
  let params = {};
  try { params = JSON.parse(hash.get("tgWebAppThemeParams") || "{}"); } catch (e) { params = {}; }
  if (tg && tg.themeParams) params = Object.assign({}, tg.themeParams, params);
  const names = { bg_color: "bg", text_color: "text", hint_color: "hint", link_color: "link",
    button_color: "button", button_text_color: "button-text", secondary_bg_color: "secondary-bg" };
  for (const [key, name] of Object.entries(names)) {
    if (typeof params[key] === "string" && /^#[0-9a-fA-F]{3,8}$/.test(params[key])) {
      document.documentElement.style.setProperty("--tg-" + name, params[key]);
    }
  }
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) node.addEventListener(ev, f);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false)
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) node.addEventListener(ev, f);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined)
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({}, options, {
    headers: Object.assign({ Authorization: "tma " + initData }, (options || {}).headers),
  }));
  if (response.status === 401) throw new Error("unauthorized");
  return response;
}

async function json(path, options) {
  const response = await api(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || String(response.status));
  return body;
}

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function sheet(...content) {
  const body = document.getElementById("sheet-body");
  body.replaceChildren(...content);
  document.getElementById("sheet").hidden = false;
}

function view(...content) { document.getElementById("view").replaceChildren(...content); }

function failed(error) {
  if (String(error.message) === "unauthorized") {
    document.getElementById("tabs").replaceChildren();
    view(el("p", { class: "error", id: "unauthorized" }, T["web.unauthorized"] ||
      "无法验证您的身份，请从 Telegram 中打开看板。 / Open the board from Telegram."));
  } else toast((T["web.failed"] || "") + error.message);
}

function tabs() {
  const shown = [["me", T["web.tab_me"]]];
  if (me.manager || me.admin) shown.push(["branch", T["web.tab_branch"]]);
  if (me.admin) shown.push(["committee", T["web.tab_committee"]]);
  document.getElementById("tabs").replaceChildren(...shown.map(([key, label]) => el("button", {
    role: "tab", "aria-selected": String(state.tab === key), "data-tab": key,
    on: { click: () => { state.tab = key; render(); } } }, label)));
}

function legend() {
  return el("div", { class: "legend" }, ["done", "open", "overdue", "not_tracked"].map((s) =>
    el("span", {}, el("i", { style: `background:var(--${s.replace("_", "-")})` }), T["chart." + s])));
}

// Inside Telegram (from Bot API 8.0) a file is downloaded by Telegram itself, from a
// five-minute link signed for this person; in a browser, through the page.
function postEvent(type, data) {
  const message = JSON.stringify({ eventType: type, eventData: data });
  if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, JSON.stringify(data));
  else if (window.parent !== window) window.parent.postMessage(message, "https://web.telegram.org");
}

function telegramAtLeast(version) {
  const have = (hash.get("tgWebAppVersion") || "0").split(".").map(Number);
  const want = version.split(".").map(Number);
  for (let i = 0; i < want.length; i++) if ((have[i] || 0) !== want[i]) return (have[i] || 0) > want[i];
  return true;
}

function download(path, name) {
  if (telegramAtLeast("8.0")) {
    json("api/link", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "/" + path }) })
      .then((link) => postEvent("web_app_request_file_download",
        { url: new URL(link.url, location.href).href, file_name: name }))
      .catch(failed);
    return;
  }
  api(path).then(async (response) => {
    if (!response.ok) throw new Error((await response.json()).error);
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  }).catch(failed);
}

// ------------------------------------------------------------------ Me

function renderMe() {
  const parts = [];
  if (me.member) parts.push(el("div", { class: "card", id: "who" },
    el("b", {}, me.member.name), " · ", me.member.role, el("div", { class: "hint" }, me.member.branch.name)));
  if (me.admin && me.scope.length) parts.push(el("div", { class: "hint" }, me.scope.join("、")));
  parts.push(el("h2", {}, T["web.owe"]));
  const owe = me.owe.map((o) => el("div", { class: "card owe" }, el("div", { class: "row" },
    el("b", {}, o.title), el("span", { class: "badge " + o.state }, o.status)),
    el("div", { class: "hint" }, `${o.period} · ${T["web.deadline"]} ${o.deadline} · ${T["web.last_workday"]} ${o.last_workday}`)));
  for (const c of me.asked) owe.push(el("div", { class: "card asked" }, el("b", {}, c.kind), " ", c.prompt,
    el("div", { class: "hint" }, `${T["web.deadline"]} ${c.deadline}`)));
  for (const r of me.records) owe.push(el("div", { class: "card" }, el("b", {}, T["web.records_due"]), " ",
    r.title, el("div", { class: "hint" }, `${T["web.deadline"]} ${r.due}`)));
  parts.push(...(owe.length ? owe : [el("p", { class: "hint" }, T["web.nothing_owed"])]));
  parts.push(el("h2", {}, T["web.meetings"]));
  parts.push(...(me.meetings.length ? me.meetings.map(meetingCard) : [el("p", { class: "hint" }, T["web.no_meetings"])]));
  parts.push(el("h2", {}, T["web.submissions"]));
  parts.push(...(me.recent.length ? me.recent.map((r) => el("div", { class: "card" }, el("b", {}, r.kind), " ",
    r.summary, el("div", { class: "hint" }, r.when))) : [el("p", { class: "hint" }, T["web.no_submissions"])]));
  if (me.member) parts.push(el("p", {}, el("button", { class: "primary", type: "button",
    on: { click: () => download("api/ics", "zhibu.ics") } }, T["web.ics"])));
  view(...parts);
}

function meetingCard(m) {
  const action = m.answered ? el("span", { class: "badge done" }, T["web.answered"]) :
    el("span", {}, el("button", { class: "primary", type: "button", "data-meeting": m.id,
      on: { click: (e) => checkIn(m, e.target) } }, T["web.checkin"]), " ",
    el("button", { type: "button", "data-leave": m.id, on: { click: (e) => askLeave(m, e.target) } },
      T["web.leave"]));
  return el("div", { class: "card meeting" }, el("div", { class: "row" }, el("b", {}, m.title), action),
    el("div", { class: "hint" }, `${m.when} · ${m.place}`));
}

async function checkIn(m, button, code) {
  button.disabled = true;
  try {
    const options = { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(code ? { code } : {}) };
    const response = await api(`api/meetings/${m.id}/checkin`, options);
    const body = await response.json();
    if (body.answer === "need_code" || body.answer === "wrong_code") {
      // a meeting checked into with the code shown in the room: ask for it, as the chat does
      const typed = window.prompt(body.text);
      button.disabled = false;
      if (typed) await checkIn(m, button, typed.trim());
      return;
    }
    toast(body.text || body.error);
    if (response.ok) { m.answered = true; renderMe(); } else button.disabled = false;
  } catch (e) { button.disabled = false; failed(e); }
}

async function askLeave(m, button) {
  const reason = window.prompt(me.leave_prompt);
  if (!reason) return;
  button.disabled = true;
  try {
    const response = await api(`api/meetings/${m.id}/leave`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason }) });
    const body = await response.json();
    toast(body.text || body.error);
    if (response.ok) { m.answered = true; renderMe(); } else button.disabled = false;
  } catch (e) { button.disabled = false; failed(e); }
}

// ------------------------------------------------------------------ Branch

async function renderBranch() {
  const code = state.branch || (me.member ? me.member.branch.code : null);
  if (!code) { view(el("p", { class: "hint", id: "pick" }, T["web.pick_branch"])); return; }
  const year = state.year || new Date().getFullYear();
  const b = await json(`api/branch/${encodeURIComponent(code)}?year=${year}`);
  const head = el("div", { class: "row" }, el("h2", { id: "branch-name" }, `${b.org.name} · ${b.year}`),
    el("span", {}, el("button", { type: "button", on: { click: () => { state.year = b.year - 1; render(); } } }, "‹"),
      el("button", { type: "button", on: { click: () => { state.year = b.year + 1; render(); } } }, "›")));
  view(head, el("h2", {}, T["web.year_grid"]), legend(), yearGrid(b), el("h2", {}, T["web.assessment"]),
    assessment(b.assessment), el("h2", {}, T["web.meetings"]), ...meetingsOf(b),
    el("h2", {}, T["web.collections"]), ...collectionsOf(b),
    el("p", {}, el("button", { class: "primary", type: "button",
      on: { click: () => download(`api/branch/${encodeURIComponent(b.org.code)}/ledger.xlsx?year=${b.year}`, `${b.org.code}-${b.year}.xlsx`) } },
      T["web.ledger"])));
}

const COLOURS = { done: "var(--done)", open: "var(--open)", overdue: "var(--overdue)", not_tracked: "var(--not-tracked)" };

function yearGrid(b) {
  // one row per obligation (or member's, or group's), cells placed by month across the year
  const label = 112, width = 12 * 20, rowH = 22;
  const root = svg("svg", { viewBox: `0 0 ${label + width + 4} ${b.grid.length * rowH + 20}`,
    width: "100%", role: "img", "aria-label": T["web.year_grid"], id: "year-grid" });
  for (let m = 0; m < 12; m++) root.append(svg("text", { x: label + m * 20 + 10, y: 12, "text-anchor": "middle" }, m + 1));
  b.grid.forEach((row, i) => {
    const y = 18 + i * rowH;
    root.append(svg("text", { x: 0, y: y + 14 }, row.title.length > 9 ? row.title.slice(0, 9) + "…" : row.title));
    for (const c of row.cells) {
      const s = new Date(c.start), e = new Date(c.end);
      const from = s.getFullYear() < b.year ? 0 : s.getMonth();
      const to = e.getFullYear() > b.year ? 11 : e.getMonth();
      const fill = COLOURS[c.state] || "none";
      root.append(svg("rect", { class: "cell", x: label + from * 20 + 1, y: y + 2, width: (to - from + 1) * 20 - 2,
        height: rowH - 4, rx: 3, fill, stroke: fill === "none" ? "var(--hint)" : "none", "data-state": c.state,
        tabindex: 0, on: { click: () => occurrence(c) } }, svg("title", {}, `${c.title} · ${c.period} · ${c.status}`)));
    }
  });
  return el("div", { class: "grid-wrap" }, root);
}

function occurrence(c) {
  sheet(el("h2", {}, c.title), el("p", {}, c.period, " ", el("span", { class: "badge " + c.state }, c.status)),
    el("ul", { class: "plain", id: "occurrence" },
      el("li", {}, `${T["web.deadline"]}: ${c.deadline}`),
      el("li", {}, `${T["web.last_workday"]}: ${c.last_workday}`),
      el("li", {}, `${T["web.count"]}: ${c.count}/${c.required}`),
      el("li", {}, `${T["web.reminders"]}: ${c.reminders.join("、") || "—"}`),
      (c.meetings || []).map((m) => el("li", { class: "held" },
        `${T["web.meetings"]}: ${m.when} · ${T["web.present"]} ${m.present} · ${T["web.leave"]} ${m.leave}`))));
}

function assessment(a) {
  if (!a || !a.parts) return el("p", { class: "hint", id: "assessment" }, T["web.not_judged"]);
  const parts = ["obligations", "attendance", "records", "collections"].filter((k) => a.maximums[k] !== null);
  const root = svg("svg", { viewBox: `0 0 320 ${parts.length * 26 + 30}`, width: "100%", role: "img", id: "assessment" });
  parts.forEach((k, i) => {
    const y = i * 26, max = a.maximums[k] || 1, got = a.parts[k] || 0;
    root.append(svg("text", { x: 0, y: y + 15 }, T["web.part_" + k]),
      svg("rect", { x: 90, y: y + 3, width: 180, height: 16, rx: 3, fill: "var(--card)" }),
      svg("rect", { x: 90, y: y + 3, width: 180 * got / max, height: 16, rx: 3, fill: "var(--done)" }),
      svg("text", { x: 276, y: y + 15 }, `${got}/${max}`));
  });
  root.append(svg("text", { x: 0, y: parts.length * 26 + 20 }, `${T["web.score"]} ${a.score} · ${a.grade}`));
  return el("div", {}, root, a.rescaled ? el("p", { class: "hint" }, T["web.rescaled"]) : null);
}

function meetingsOf(b) {
  if (!b.meetings.length) return [el("p", { class: "hint" }, T["web.no_meetings"])];
  return b.meetings.map((m) => {
    const present = m.answers.filter((a) => a.status === "present");
    const leave = m.answers.filter((a) => a.status === "leave");
    return el("div", { class: "card held" }, el("div", { class: "row" }, el("b", {}, m.title), el("span", { class: "hint" }, m.when)),
      el("div", { class: "hint" }, m.place),
      el("div", {}, `${T["web.present"]} ${present.length}: `, present.map((a) =>
        a.by ? `${a.name}（${T["web.signed_by"]} ${a.by}）` : a.name).join("、")),
      leave.length ? el("div", { class: "hint" }, `${T["web.leave"]} ${leave.length}: ${leave.map((a) => a.name).join("、")}`) : null);
  });
}

function collectionsOf(b) {
  if (!b.collections.length) return [el("p", { class: "hint" }, T["web.no_collections"])];
  return b.collections.map((c) => el("div", { class: "card collection" },
    el("div", { class: "row" }, el("b", {}, `${c.kind} · ${c.prompt}`),
      c.open && c.missing.length ? el("button", { class: "primary", type: "button", "data-remind": c.id,
        on: { click: (e) => remind(c, e.target) } }, T["web.remind"]) : null),
    el("div", { class: "hint" }, `${T["web.deadline"]} ${c.deadline}`),
    el("div", {}, `${T["web.submitted"]} ${c.on_time.length + c.late.length}: ${[...c.on_time, ...c.late].join("、")}`),
    el("div", { class: "missing" }, `${T["web.missing"]} ${c.missing.length}: ${c.missing.join("、")}`)));
}

async function remind(c, button) {
  button.disabled = true;
  try { toast((await json(`api/collections/${c.id}/remind`, { method: "POST" })).text); }
  catch (e) { button.disabled = false; failed(e); }
}

// ------------------------------------------------------------------ Committee

async function renderCommittee() {
  const year = state.year || new Date().getFullYear();
  const data = await json(`api/committee?year=${year}`);
  const parents = [...new Set(data.rows.map((r) => r.parent))].sort();
  const filter = el("input", { type: "search", placeholder: T["web.filter"], value: state.filter, id: "filter" });
  const parent = el("select", { id: "parent" }, el("option", { value: "" }, T["web.all_committees"]),
    parents.map((p) => el("option", { value: p, selected: p === state.parent }, p)));
  const table = el("table", { id: "branches" });
  const draw = () => drawTable(table, data.rows);
  filter.addEventListener("input", () => { state.filter = filter.value; draw(); });
  parent.addEventListener("change", () => { state.parent = parent.value; draw(); });
  draw();
  view(el("h2", {}, `${T["web.tab_committee"]} · ${data.year}`), gradeChart(data.rows),
    el("div", { class: "tools" }, filter, parent), el("div", { class: "grid-wrap" }, table));
}

const COLUMNS = [["name", "web.branch_col"], ["parent", "web.committee_col"], ["score", "web.score"],
  ["grade", "web.grade"], ["rank", "web.rank"], ["missed", "web.missed"], ["attendance", "web.attendance"],
  ["interview", "web.interview"]];

function drawTable(table, rows) {
  const [key, dir] = state.sort;
  const words = state.filter.trim().toLowerCase();
  const shown = rows.filter((r) => (!state.parent || r.parent === state.parent) &&
    (!words || r.name.toLowerCase().includes(words) || r.code.toLowerCase().includes(words)));
  shown.sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return a.code < b.code ? -1 : 1;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  const head = el("tr", {}, COLUMNS.map(([k, label]) => el("th", { "data-key": k,
    "aria-sort": k === key ? (dir > 0 ? "ascending" : "descending") : false,
    on: { click: () => { state.sort = [k, k === key ? -dir : 1]; drawTable(table, rows); } } }, T[label])));
  const body = shown.map((r) => el("tr", { class: "pick", "data-code": r.code,
    on: { click: () => { state.branch = r.code; state.tab = "branch"; render(); } } },
    el("td", {}, r.name), el("td", {}, r.parent), el("td", {}, r.score ?? "—"), el("td", {}, r.grade),
    el("td", {}, r.rank ?? "—"), el("td", {}, r.missed),
    el("td", {}, r.attendance === null ? "—" : Math.round(r.attendance * 100) + "%"),
    el("td", {}, r.interview ? "⚠️" : "")));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
}

// a grade's colour says what it means, whatever the language its name is in
const GRADE_COLOURS = { "grade.excellent": "var(--done)", "grade.good": "var(--open)",
  "grade.fair": "#e0a800", "grade.poor": "var(--overdue)", "grade.not_judged": "var(--not-tracked)" };

function gradeChart(rows) {
  const order = Object.keys(GRADE_COLOURS);
  const counts = new Map();
  for (const r of rows) {
    const seen = counts.get(r.grade_key) || { name: r.grade, n: 0 };
    seen.n += 1;
    counts.set(r.grade_key, seen);
  }
  const entries = [...counts.entries()].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
  const most = Math.max(1, ...entries.map(([, g]) => g.n));
  const root = svg("svg", { viewBox: `0 0 320 ${entries.length * 24 + 8}`, width: "100%", role: "img",
    "aria-label": T["web.grades_chart"], id: "grades" });
  entries.forEach(([key, g], i) => {
    root.append(svg("text", { x: 0, y: i * 24 + 16 }, g.name),
      svg("rect", { x: 100, y: i * 24 + 4, width: 180 * g.n / most, height: 16, rx: 3, fill: GRADE_COLOURS[key], "data-grade": key }),
      svg("text", { x: 104 + 180 * g.n / most, y: i * 24 + 16 }, g.n));
  });
  return el("div", {}, el("div", { class: "hint" }, T["web.grades_chart"]), root);
}

// ------------------------------------------------------------------ start

async function render() {
  tabs();
  document.getElementById("sheet").hidden = true;
  try {
    if (state.tab === "branch") await renderBranch();
    else if (state.tab === "committee") await renderCommittee();
    else renderMe();
  } catch (e) { failed(e); }
}

async function start() {
  theme();
  if (tg && tg.ready) tg.ready();
  else if (hash.get("tgWebAppVersion")) postEvent("web_app_ready", {});
  try {
    me = await json("api/me");
  } catch (e) { failed(e); return; }
  T = me.t;
  document.documentElement.lang = me.lang;
  document.title = T["web.title"];
  document.getElementById("title").textContent = T["web.title"];
  document.getElementById("sheet-close").textContent = T["web.close"];
  document.getElementById("sheet-close").addEventListener("click", () => { document.getElementById("sheet").hidden = true; });
  const query = new URLSearchParams(location.search);  // 打开看板 from /status, /overview …
  const asked = query.get("view") || hash.get("view");
  if (query.get("code")) state.branch = query.get("code");
  if (asked === "committee" && me.admin) state.tab = "committee";
  else if (asked === "branch" && (me.manager || me.admin)) state.tab = "branch";
  else if (!me.member && me.admin) state.tab = "committee";
  await render();
}

start();
