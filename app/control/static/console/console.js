// The lse-emulator console: plain JavaScript over the control plane's public endpoints.
// Live changes arrive as Server-Sent Events from /_emulator/events; nothing polls.
"use strict";

const TOKEN_KEY = "lse-emulator-admin-token";
const FINAL = ["Completed", "Failed", "Canceled"];
const STATUS_RANK = { Pending: 0, InProgress: 1, Completed: 2, Failed: 2, Canceled: 2 };

const state = {
  workspace: null,
  runs: new Map(),
  users: new Map(),
  clock: null,
  selected: null,
  events: null,
  faultsAvailable: true,
};

const $ = (selector, root = document) => root.querySelector(selector);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(describe(body, status));
    this.status = status;
    this.body = body;
  }
}

function describe(body, status) {
  if (body && typeof body === "object") {
    const parts = [];
    if (body.detail !== undefined) parts.push(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
    if (body.validation_errors) {
      for (const [field, messages] of Object.entries(body.validation_errors)) {
        parts.push(`${field}: ${[].concat(messages).join(" ")}`);
      }
    }
    if (parts.length) return parts.join("\n");
  }
  return `The server answered ${status}.`;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = `Token ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (response.status === 401 && path.startsWith("/_emulator/")) {
    showLogin(token() ? describe(data, 401) : "");
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function showMessage(text, kind = "error") {
  const box = $("#message");
  box.textContent = text;
  box.className = kind === "error" ? "message" : "message info";
  box.hidden = false;
  clearTimeout(showMessage.timer);
  if (kind !== "error") showMessage.timer = setTimeout(() => (box.hidden = true), 4000);
}

// Runs an action of a button or form: errors are shown as the envelope's detail.
async function act(work, success) {
  try {
    const result = await work();
    if (success) showMessage(success, "info");
    else $("#message").hidden = true;
    return result;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) showMessage(error.message);
    return undefined;
  }
}

// ---- Login -----------------------------------------------------------------------------

function showLogin(error) {
  if (state.events) state.events.close();
  state.events = null;
  $("#console").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = error || "";
  $("#logout").hidden = true;
  $("#login-token").focus();
}

$("#login").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#login-token").value.trim());
  $("#login-token").value = "";
  await start();
});

$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin("");
});

// ---- Clock -----------------------------------------------------------------------------

function setClock(clock) {
  state.clock = { now: Date.parse(clock.now), frozen: clock.frozen, seen: performance.now() };
  drawClock();
}

function drawClock() {
  if (!state.clock) return;
  const { now, frozen, seen } = state.clock;
  const shown = frozen ? now : now + (performance.now() - seen);
  $("#clock-now").textContent = new Date(shown).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  $("#clock-now").setAttribute("datetime", new Date(shown).toISOString());
  $("#clock-state").textContent = frozen ? "frozen" : "running";
  $("#clock-state").className = frozen ? "badge frozen" : "badge";
  $("#clock-freeze").textContent = frozen ? "Unfreeze" : "Freeze";
}
setInterval(drawClock, 1000);

function clockChanged(answer) {
  setClock(answer);
  for (const run of answer.runs || []) upsertRun(run);
}

$("#clock-freeze").addEventListener("click", () =>
  act(async () => clockChanged(await api("POST", "/_emulator/clock", { freeze: !state.clock?.frozen })))
);
for (const button of document.querySelectorAll("[data-advance]")) {
  button.addEventListener("click", () =>
    act(async () =>
      clockChanged(await api("POST", "/_emulator/clock", { advance_seconds: Number(button.dataset.advance) }))
    )
  );
}
$("#clock-run-out").addEventListener("click", () =>
  act(async () => clockChanged(await api("POST", "/_emulator/clock/run-out")))
);

// ---- Reset -----------------------------------------------------------------------------

$("#reset").addEventListener("click", () => $("#confirm-reset").showModal());
$("#confirm-reset").addEventListener("close", () => {
  if ($("#confirm-reset").returnValue !== "reset") return;
  act(async () => {
    await api("POST", "/_emulator/reset");
    await reload();
  }, "The emulator is back to its boot state.");
});

// ---- Workspace -------------------------------------------------------------------------

const projectTitle = (id) => state.workspace?.projects.find((p) => p.id === id)?.title ?? `#${id}`;
const promptOf = (id) => state.workspace?.prompts.find((p) => p.id === id);
const versionOf = (id) => {
  for (const prompt of state.workspace?.prompts || []) {
    const version = prompt.versions.find((v) => v.id === id);
    if (version) return { prompt, version };
  }
  return null;
};
const percent = (part, whole) => (whole ? `${Math.round((100 * part) / whole)}%` : "–");

async function loadWorkspace() {
  state.workspace = await api("GET", "/_emulator/workspace");
  state.users.clear();
  for (const org of state.workspace.organizations) for (const user of org.users) state.users.set(user.id, { ...user, org });
  drawWorkspace();
  fillSelects();
}

function drawWorkspace() {
  const ws = state.workspace;
  const root = $("#workspace");
  root.replaceChildren();
  if (!ws.organizations.length) {
    root.append(h("p", { class: "empty" }, "No organizations: load a seed document (POST /_emulator/seed)."));
    return;
  }
  for (const org of ws.organizations) {
    const projects = ws.projects.filter((p) => p.organization === org.id);
    const prompts = ws.prompts.filter((p) => p.organization === org.id);
    root.append(
      h("h3", {}, `${org.title} `, h("span", { class: "sub" }, `organization ${org.id}`)),
      h("p", { class: "note" }, "Users: ", org.users.map((u) => `${u.email || u.username} (${u.id}, token ${u.token_hint})`).join(", ") || "none"),
      projects.length
        ? h("table", {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Project"), h("th", { scope: "col" }, "Tasks"), h("th", { scope: "col" }, "Ground truth"))),
            h("tbody", {}, projects.map((p) =>
              h("tr", {}, h("td", {}, `${p.id} ${p.title}`), h("td", { class: "num" }, p.tasks),
                h("td", { class: "num" }, `${p.ground_truth} (${percent(p.ground_truth, p.tasks)})`)))))
        : h("p", { class: "empty" }, "No projects."),
      prompts.length
        ? h("ul", { class: "ws-list" }, prompts.map((prompt) =>
            h("li", {}, h("strong", {}, `${prompt.id} ${prompt.title}`),
              ` (projects ${prompt.associated_projects.join(", ") || "none"})`,
              h("ul", {}, prompt.versions.map((v) =>
                h("li", {}, `${v.id} ${v.title}: ${v.provider} ${v.provider_model_id || ""}, accuracy ${v.accuracy}, failures ${v.failure_rate}`))))))
        : h("p", { class: "empty" }, "No prompts.")
    );
  }
  if (ws.connections === null || ws.connections === undefined) {
    root.append(h("p", { class: "note" }, "Provider connections: not served by this emulator yet."));
  } else {
    root.append(h("h3", {}, "Provider connections"),
      ws.connections.length
        ? h("ul", { class: "ws-list" }, ws.connections.map((c) =>
            h("li", {}, Object.entries(c).filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => `${k}: ${v}`).join(", "))))
        : h("p", { class: "empty" }, "No connections."));
  }
}

function option(value, label, selected) {
  return h("option", { value, selected: selected ? true : null }, label);
}

function fillSelects() {
  const ws = state.workspace;
  const version = $("#start-version");
  const chosen = version.value;
  version.replaceChildren(
    ...ws.prompts.map((prompt) =>
      h("optgroup", { label: `${prompt.title} (prompt ${prompt.id})` },
        prompt.versions.map((v) => option(v.id, `${v.id} ${v.title}`, String(v.id) === chosen))))
  );
  fillStartChoices();
  const filters = $("#run-filters");
  const keep = (name) => filters.elements[name].value;
  const [project, prompt, ver] = [keep("project"), keep("prompt"), keep("version")];
  filters.elements.project.replaceChildren(option("", "all"), ...ws.projects.map((p) => option(p.id, `${p.id} ${p.title}`, String(p.id) === project)));
  filters.elements.prompt.replaceChildren(option("", "all"), ...ws.prompts.map((p) => option(p.id, `${p.id} ${p.title}`, String(p.id) === prompt)));
  filters.elements.version.replaceChildren(option("", "all"),
    ...ws.prompts.flatMap((p) => p.versions.map((v) => option(v.id, `${v.id} ${v.title}`, String(v.id) === ver))));
}

function fillStartChoices() {
  const found = versionOf(Number($("#start-version").value));
  const project = $("#start-project");
  const user = $("#start-user");
  if (!found) {
    project.replaceChildren();
    user.replaceChildren();
    return;
  }
  const org = found.prompt.organization;
  const projects = state.workspace.projects.filter((p) => p.organization === org);
  const associated = found.prompt.associated_projects;
  projects.sort((a, b) => associated.includes(b.id) - associated.includes(a.id) || a.id - b.id);
  const chosen = project.value;
  project.replaceChildren(...projects.map((p) => option(p.id, `${p.id} ${p.title}`, String(p.id) === chosen)));
  const users = state.workspace.organizations.find((o) => o.id === org)?.users || [];
  user.replaceChildren(...users.map((u) => option(u.id, u.email || u.username)));
}
$("#start-version").addEventListener("change", fillStartChoices);

$("#start-run").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target.elements;
  const body = {
    version: Number(form.version.value),
    project: Number(form.project.value),
    project_subset: form.project_subset.value,
  };
  if (form.sample_subset_size.value !== "") body.sample_subset_size = Number(form.sample_subset_size.value);
  if (form.outcome.value) body.outcome = form.outcome.value;
  if (form.user.value) body.user = Number(form.user.value);
  act(async () => {
    const run = await api("POST", "/_emulator/runs", body);
    upsertRun(run);
    return run;
  }, "Run started.");
});

// ---- Runs ------------------------------------------------------------------------------

async function loadRuns() {
  const runs = await api("GET", "/_emulator/runs");
  for (const run of runs) upsertRun(run);
}

// The more advanced of two views of a run wins: a list read before an event must not undo it.
function newer(a, b) {
  if (!a) return b;
  const rank = (r) => [STATUS_RANK[r.status] ?? 0, (r.total_predictions || 0) + (r.total_failed || 0)];
  const [ra, rb] = [rank(a), rank(b)];
  return rb[0] > ra[0] || (rb[0] === ra[0] && rb[1] >= ra[1]) ? b : a;
}

function upsertRun(run) {
  const merged = { ...(state.runs.get(run.id) || {}), ...newer(state.runs.get(run.id), run) };
  state.runs.set(run.id, merged);
  drawRun(merged);
  if (state.selected === run.id) scheduleDetail();
}

function when(value) {
  return value ? value.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") : "–";
}

function drawRun(run) {
  const body = $("#runs tbody");
  let row = body.querySelector(`tr[data-id="${run.id}"]`);
  if (!row) {
    row = h("tr", { "data-id": run.id });
    for (let i = 0; i < 9; i++) row.append(h("td"));
    const labels = ["Run", "Prompt / version", "Project", "Status", "Progress", "Correct", "Failures", "Times", "Actions"];
    labels.forEach((label, i) => row.children[i].setAttribute("data-label", label));
    row.children[8].append(
      h("div", { class: "actions" },
        h("button", { type: "button", "data-action": "open", onclick: () => openRun(run.id) }, "Details"),
        h("button", { type: "button", "data-action": "cancel", onclick: () => cancelRun(run.id) }, "Cancel"))
    );
    const next = [...body.children].find((r) => Number(r.dataset.id) < run.id);
    body.insertBefore(row, next || null);
  }
  const cells = row.children;
  const found = versionOf(run.model_version);
  const done = (run.total_predictions || 0) + (run.total_failed || 0);
  const total = run.total_tasks || 0;
  const share = run.status === "Completed" ? 100 : total ? Math.min(100, Math.round((100 * done) / total)) : 0;
  cells[0].textContent = `#${run.id}`;
  cells[1].textContent = found ? `${found.prompt.title} / ${found.version.title}` : `${run.parent_model} / ${run.model_version}`;
  cells[2].textContent = `${projectTitle(run.project)} (${run.project_subset})`;
  cells[3].replaceChildren(h("span", { class: `status status-${run.status}` }, run.status));
  if (run.outcome) cells[3].append(h("span", { class: "sub" }, ` forced ${run.outcome}`));
  cells[4].replaceChildren(
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": share,
      "aria-label": `Run ${run.id} progress`, title: `${run.total_predictions} predictions of ${total}` },
      h("span", { style: `width:${share}%` }), h("em", {}, `${share}% (${run.total_predictions}/${total})`))
  );
  cells[5].textContent = `${percent(run.total_correct_predictions, run.judged_predictions)} (${run.total_correct_predictions}/${run.judged_predictions ?? "?"})`;
  cells[6].textContent = run.total_failed ?? 0;
  cells[7].replaceChildren(h("div", { class: "times" },
    `created ${when(run.created_at)}`, h("br"), `started ${when(run.triggered_at)}`, h("br"),
    `last prediction ${when(run.predictions_updated_at)}`, h("br"), `completed ${when(run.completed_at)}`));
  row.querySelector('[data-action="cancel"]').disabled = FINAL.includes(run.status);
  row.classList.toggle("selected", state.selected === run.id);
  row.dataset.status = run.status;
  applyFilter(row, run);
  $("#runs-empty").hidden = state.runs.size > 0;
}

function applyFilter(row, run) {
  const f = $("#run-filters").elements;
  const keep =
    (!f.project.value || Number(f.project.value) === run.project) &&
    (!f.prompt.value || Number(f.prompt.value) === run.parent_model) &&
    (!f.version.value || Number(f.version.value) === run.model_version) &&
    (!f.status.value || f.status.value === run.status);
  row.hidden = !keep;
}

$("#run-filters").addEventListener("change", () => {
  for (const run of state.runs.values()) applyFilter($(`#runs tr[data-id="${run.id}"]`), run);
});

function cancelRun(id) {
  act(async () => upsertRun(await api("POST", `/_emulator/runs/${id}/transition`, { to: "Canceled", reason: "canceled from the console" })), `Run ${id} canceled.`);
}

// ---- One run ---------------------------------------------------------------------------

function openRun(id) {
  state.selected = id;
  for (const row of document.querySelectorAll("#runs tr.selected")) row.classList.remove("selected");
  $(`#runs tr[data-id="${id}"]`)?.classList.add("selected");
  $("#run-detail").hidden = false;
  drawDetail().then(() => $("#detail-title").focus());
}

$("#detail-close").addEventListener("click", () => {
  const id = state.selected;
  state.selected = null;
  $("#run-detail").hidden = true;
  $(`#runs tr[data-id="${id}"]`)?.classList.remove("selected");
  $(`#runs tr[data-id="${id}"] [data-action="open"]`)?.focus();
});

function scheduleDetail() {
  if (scheduleDetail.timer) return;
  scheduleDetail.timer = setTimeout(() => {
    scheduleDetail.timer = null;
    drawDetail();
  }, 500);
}

async function drawDetail() {
  const id = state.selected;
  if (id === null) return;
  const run = state.runs.get(id);
  $("#detail-title").textContent = `Run #${id}`;
  if (run) {
    const total = run.total_tasks || 0;
    const rows = [
      ["Status", run.status + (run.outcome ? ` (forced ${run.outcome})` : "")],
      ["Subset", `${run.project_subset}${run.sample_subset_size !== null ? ` of ${run.sample_subset_size}` : ""}`],
      ["Created by", run.created_by?.email || run.created_by?.id],
      ["Tasks", total],
      ["Predictions", `${run.total_predictions} (${percent(run.total_predictions, total)})`],
      ["Correct", `${run.total_correct_predictions} of ${run.judged_predictions} judged (${percent(run.total_correct_predictions, run.judged_predictions)})`],
      ["Failures", run.total_failed],
    ];
    $("#detail-totals").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    drawChart(run);
  }
  await act(async () => {
    const [history, tasks] = await Promise.all([
      api("GET", `/_emulator/runs/${id}/history`),
      api("GET", `/_emulator/runs/${id}/tasks`),
    ]);
    if (state.selected !== id) return;
    $("#detail-timeline").replaceChildren(...history.events.map((e) =>
      h("li", {}, h("strong", {}, `${e.from ? e.from + " → " : ""}${e.to}`), ` at ${when(e.at)} `,
        h("span", { class: "sub" }, `(${e.cause}${e.reason ? ": " + e.reason : ""})`))));
    $("#detail-task-count").textContent = `${tasks.count} in all${tasks.count > tasks.tasks.length ? `, first ${tasks.tasks.length} shown` : ""}`;
    const show = (v) => (v === null || v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));
    $("#detail-tasks tbody").replaceChildren(...tasks.tasks.map((t) =>
      h("tr", {}, h("td", {}, t.id), h("td", {}, t.ground_truth ? "yes" : "no"), h("td", {}, t.state + (t.error ? ` (${t.error})` : "")),
        h("td", {}, t.correct === null ? "–" : t.correct ? "✓ matched" : "✗ differs"),
        h("td", {}, show(t.data)), h("td", {}, show(t.result)))));
  });
}

function drawChart(run) {
  const runs = [...state.runs.values()]
    .filter((r) => r.model_version === run.model_version && r.judged_predictions > 0)
    .sort((a, b) => a.id - b.id);
  const found = versionOf(run.model_version);
  $("#chart-title").textContent = `Accuracy across the runs of ${found ? found.version.title : "version " + run.model_version}`;
  const root = $("#detail-chart");
  if (!runs.length) {
    root.replaceChildren(h("p", { class: "empty" }, "No run of this version has judged predictions yet."));
    return;
  }
  const W = 400, H = 170, L = 36, R = 10, T = 10, B = 26;
  const x = (i) => L + (runs.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (runs.length - 1));
  const y = (v) => T + (1 - v) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs = {}, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Correct share per run" });
  for (const v of [0, 0.5, 1]) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#d9dde4" }));
    chart.append(svg("text", { x: 4, y: y(v) + 4, "font-size": 10, fill: "#5b6575" }, `${v * 100}%`));
  }
  if (found) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(found.version.accuracy), y2: y(found.version.accuracy), stroke: "#9a6700", "stroke-dasharray": "4 3" }));
  }
  const points = runs.map((r, i) => [x(i), y(r.total_correct_predictions / r.judged_predictions)]);
  chart.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#2155c4", "stroke-width": 2 }));
  runs.forEach((r, i) => {
    const dot = svg("circle", { cx: points[i][0], cy: points[i][1], r: r.id === run.id ? 5 : 3.5, fill: r.id === run.id ? "#b42318" : "#2155c4" });
    dot.append(svg("title", {}, `run ${r.id}: ${percent(r.total_correct_predictions, r.judged_predictions)} (${r.status})`));
    chart.append(dot);
    chart.append(svg("text", { x: points[i][0], y: H - 8, "font-size": 10, "text-anchor": "middle", fill: "#5b6575" }, `#${r.id}`));
  });
  root.replaceChildren(chart, h("p", { class: "note" }, "Dashed: the version's accuracy knob."));
}

$("#transition").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target.elements;
  const id = state.selected;
  act(async () => upsertRun(await api("POST", `/_emulator/runs/${id}/transition`, { to: form.to.value, reason: form.reason.value })), `Run ${id} moved to ${form.to.value}.`);
});

// ---- Policy ----------------------------------------------------------------------------

async function loadPolicy() {
  const policy = await api("GET", "/_emulator/policy");
  const form = $("#policy");
  form.replaceChildren(
    ...Object.entries(policy).map(([name, value]) =>
      h("label", {}, name.replaceAll("_", " "), h("input", { name, type: "number", step: "any", value: value ?? "" }))),
    h("button", { type: "submit" }, "Save policy")
  );
}

$("#policy").addEventListener("submit", (event) => {
  event.preventDefault();
  const change = {};
  for (const input of event.target.querySelectorAll("input")) change[input.name] = input.value === "" ? null : Number(input.value);
  act(async () => {
    await api("PUT", "/_emulator/policy", change);
    await loadPolicy();
  }, "Policy saved.");
});

// ---- Fault rules (served by /_emulator/faults) ------------------------------------------

async function loadFaults() {
  let rules;
  try {
    rules = await api("GET", "/_emulator/faults");
  } catch (error) {
    if (error.status === 404 || error.status === 405) {
      state.faultsAvailable = false;
      $("#faults-unavailable").hidden = false;
      $("#fault-form").hidden = $("#faults-clear").hidden = true;
      return;
    }
    throw error;
  }
  const list = Array.isArray(rules) ? rules : rules?.results || rules?.rules || [];
  $("#faults").replaceChildren(
    ...(list.length
      ? list.map((rule) => {
          const shown = Object.entries(rule).filter(([k, v]) => k !== "id" && v !== null && v !== false).map(([k, v]) => `${k} ${v}`).join(", ");
          return h("li", { "data-id": rule.id }, h("span", {}, `#${rule.id}: ${shown}`),
            h("button", { type: "button", onclick: () => act(async () => { await api("DELETE", `/_emulator/faults/${rule.id}`); await loadFaults(); }, `Fault rule ${rule.id} removed.`) }, "Remove"));
        })
      : [h("li", { class: "empty" }, "No fault rules: every request is answered normally.")])
  );
}

$("#fault-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const rule = {};
  for (const input of event.target.querySelectorAll("input")) {
    if (input.type === "checkbox") {
      if (input.checked) rule[input.name] = true;
    } else if (input.value !== "") {
      rule[input.name] = input.type === "number" ? Number(input.value) : input.value;
    }
  }
  act(async () => {
    await api("POST", "/_emulator/faults", rule);
    event.target.reset();
    await loadFaults();
  }, "Fault rule added.");
});

$("#faults-clear").addEventListener("click", () =>
  act(async () => { await api("DELETE", "/_emulator/faults"); await loadFaults(); }, "Fault rules removed.")
);

// ---- Requests --------------------------------------------------------------------------

const MAX_REQUESTS = 300;

function addRequests(entries) {
  const body = $("#requests tbody");
  for (const entry of entries) {
    const user = state.users.get(entry.user_id);
    const faults = entry.faults ?? entry.fault ?? entry.fault_id ?? null;
    body.prepend(h("tr", { class: entry.status >= 400 ? "failed" : null },
      h("td", { class: "times" }, when(entry.time)),
      h("td", {}, h("code", {}, `${entry.method} ${entry.path}`)),
      h("td", { class: "num" }, entry.status),
      h("td", {}, user ? user.email || user.username : entry.user_id ?? "–"),
      h("td", {}, entry.run_id ?? "–"),
      h("td", {}, faults === null || (Array.isArray(faults) && !faults.length) ? "–" : [].concat(faults).join(", "))));
  }
  while (body.children.length > MAX_REQUESTS) body.lastChild.remove();
  $("#requests-empty").hidden = body.children.length > 0;
}

async function loadRequests() {
  const entries = await api("GET", "/_emulator/requests");
  $("#requests tbody").replaceChildren();
  addRequests(entries.slice(0, MAX_REQUESTS).reverse());
}

$("#requests-clear").addEventListener("click", () =>
  act(async () => { await api("DELETE", "/_emulator/requests"); await loadRequests(); }, "Journal cleared.")
);

// ---- Live events -----------------------------------------------------------------------

function live(text, on) {
  $("#live").textContent = text;
  $("#live").className = on ? "badge live" : "badge";
}

async function connect() {
  if (state.events) state.events.close();
  const { ticket } = await api("POST", "/_emulator/events/ticket");
  const source = new EventSource(`/_emulator/events${ticket ? `?ticket=${encodeURIComponent(ticket)}` : ""}`);
  state.events = source;
  source.addEventListener("hello", (event) => {
    live("live", true);
    setClock(JSON.parse(event.data));
    // What changed before this stream opened is read once; what changes after arrives here.
    act(() => Promise.all([loadRuns(), loadRequests()]));
  });
  source.addEventListener("runs", (event) => {
    for (const run of JSON.parse(event.data)) upsertRun(run);
  });
  source.addEventListener("clock", (event) => {
    setClock(JSON.parse(event.data));
    loadPolicy().catch(() => {});
  });
  source.addEventListener("requests", (event) => addRequests(JSON.parse(event.data)));
  source.addEventListener("reset", () => reload());
  source.onerror = () => {
    live("reconnecting…", false);
    if (source.readyState === EventSource.CLOSED && state.events === source) {
      // Refused (an expired ticket) or dropped: ask for a new ticket and connect again.
      setTimeout(() => state.events === source && connect().catch(() => live("offline", false)), 2000);
    }
  };
}

// ---- Start -----------------------------------------------------------------------------

async function reload() {
  state.runs.clear();
  $("#runs tbody").replaceChildren();
  $("#runs-empty").hidden = false;
  await loadWorkspace();
  await Promise.all([loadRuns(), loadRequests(), loadPolicy(), loadFaults().catch((e) => showMessage(e.message))]);
  const clock = await api("GET", "/_emulator/clock");
  setClock(clock);
  if (state.selected !== null && !state.runs.has(state.selected)) $("#detail-close").click();
}

async function start() {
  try {
    await api("GET", "/_emulator/clock");
  } catch (error) {
    if (error.status !== 401) showMessage(error.message);
    return;
  }
  $("#login").hidden = true;
  $("#console").hidden = false;
  $("#logout").hidden = !token();
  await act(async () => {
    await reload();
    await connect();
  });
}

start();
