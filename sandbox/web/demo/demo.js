// The sandbox demo: a web app using the silentcheck API as any web app would (fetch, same origin), with this
// browser as the phone. The phone's settings and its log of requests are at http://phone.test/, answered by
// the sandbox's phone proxy (sandbox/web/phone.py), never by the API.
"use strict";

const PHONE = "http://phone.test";
const POLL_INTERVAL_MS = 1000;
const MAX_POLLS = 60;
const CHAIN_TIMEOUT_MS = 20000;

const $ = (selector) => document.querySelector(selector);
let config = { api: "/v1", services: {} };
let startedAt = 0;

// -- small helpers -------------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const short = (value, keep = 10) => (value && value.length > keep + 1 ? `${value.slice(0, keep)}…` : value);

function serviceOf(url) {
  const parsed = new URL(url, location.href);
  if (parsed.origin === location.origin) return "silentcheck API";
  return config.services[parsed.origin] || parsed.host;
}

function pathOf(url) {
  const parsed = new URL(url, location.href);
  const names = [...parsed.searchParams.keys()];
  return parsed.pathname + (names.length ? `?${names.map((n) => `${n}=…`).join("&")}` : "");
}

async function json(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

// -- the timeline ---------------------------------------------------------------------------------------

function step(title, state = "active") {
  const list = $("#steps");
  list.querySelector(".empty")?.remove();
  const time = el("span", { class: "step-time muted" }, `${Date.now() - startedAt} ms`);
  const body = el("div", { class: "step-body" });
  const item = el("li", { class: `step ${state}` },
    el("span", { class: "step-dot", "aria-hidden": "true" }),
    el("div", { class: "step-main" }, el("div", { class: "step-title" }, el("span", {}, title), time), body));
  list.append(item);
  $("#elapsed").textContent = "";
  return {
    item,
    body,
    line(...parts) {
      body.append(el("div", { class: "step-line" }, ...parts));
      return this;
    },
    done(state = "done") {
      item.classList.remove("active");
      item.classList.add(state);
      time.textContent = `${Date.now() - startedAt} ms`;
      return this;
    },
  };
}

function call(method, path, status) {
  const tone = status >= 200 && status < 300 ? "ok" : status >= 300 && status < 400 ? "redirect" : "bad";
  return el("span", { class: "call" }, el("span", { class: "method" }, method), el("code", {}, path),
    el("span", { class: `status ${tone}` }, status === null ? "no answer" : String(status)));
}

function kv(name, value) {
  return el("span", { class: "kv" }, el("span", { class: "k" }, name), el("span", { class: "v" }, value));
}

function hopRow(hop) {
  const tone = hop.status === null ? "bad" : hop.status < 300 ? "ok" : hop.status < 400 ? "redirect" : "bad";
  const next = hop.location ? el("span", { class: "hop-next" }, "→ ", serviceOf(new URL(hop.location, hop.url).href)) : null;
  return el("li", { class: "hop", "data-status": String(hop.status), "data-service": serviceOf(hop.url) },
    el("span", { class: "hop-service" }, serviceOf(hop.url)),
    el("span", { class: "method" }, hop.method),
    el("code", { class: "hop-path", title: pathOf(hop.url) }, pathOf(hop.url)),
    el("span", { class: `status ${tone}` }, hop.status === null ? "no answer" : String(hop.status)),
    next);
}

// -- the phone ------------------------------------------------------------------------------------------

async function phoneSettings(method = "GET", body) {
  const response = await fetch(`${PHONE}/phone`, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await json(response) };
}

function showPhone(phone) {
  const chip = $("#phone-chip");
  if (!phone) {
    chip.textContent = "Phone: no SIM yet";
    chip.className = "chip chip-idle";
    return;
  }
  const bearer = phone.bearer === "cellular" ? "mobile data" : "Wi-Fi";
  chip.textContent = `Phone: SIM ${phone.sim} · ${bearer} · ${phone.ip}`;
  chip.className = `chip ${phone.bearer === "cellular" ? "chip-cellular" : "chip-wifi"}`;
}

async function phoneLogMark() {
  const response = await fetch(`${PHONE}/log`);
  const hops = (await json(response)).hops || [];
  return hops.length ? hops[hops.length - 1].seq : 0;
}

async function phoneHopsAfter(mark) {
  const response = await fetch(`${PHONE}/log?after=${mark}`);
  // Only the frame's requests: the chain the phone's browser followed, not this page's own calls.
  return ((await json(response)).hops || []).filter((hop) => hop.dest === "iframe" || hop.dest === null);
}

function openInPhone(url) {
  const frame = $("#phone-frame");
  $("#phone-idle").hidden = true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), CHAIN_TIMEOUT_MS);
    frame.onload = () => {
      clearTimeout(timer);
      resolve(true);
    };
    frame.src = url;
  });
}

function completionCodeInPhone() {
  // The return page is on this origin, so the app reads the code as it would from its web view.
  try {
    const found = $("#phone-frame").contentDocument?.getElementById("completion-code");
    return found ? found.textContent.trim() : null;
  } catch {
    return null; // the chain ended on another origin (a provider's error page): no code
  }
}

// -- the API, as a web app calls it -------------------------------------------------------------------

function apiHeaders(headers) {
  // A deployment with ClientAuth=api_key wants its key on every call; the sandbox says which in config.json.
  return config.api_key ? { ...headers, "x-api-key": config.api_key } : headers;
}

async function startCheck(number, provider, simSwapHours) {
  const body = { phone_number: number };
  if (provider) body.provider = provider;
  if (simSwapHours !== null) body.sim_swap = { max_age_hours: simSwapHours };
  const response = await fetch(`${config.api}/checks`, {
    method: "POST",
    headers: apiHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await json(response) };
}

async function poll(check, code) {
  const query = code ? `?code=${encodeURIComponent(code)}` : "";
  const response = await fetch(`${config.api}/checks/${encodeURIComponent(check.check_id)}${query}`, {
    headers: apiHeaders({ Authorization: `Bearer ${check.poll_token}` }),
  });
  return { status: response.status, body: await json(response) };
}

// -- results ---------------------------------------------------------------------------------------------

const VERDICTS = {
  VERIFIED: ["good", "Verified", "The SIM in the phone is this number's."],
  NOT_VERIFIED: ["warn", "Not verified", "The phone's line is another number: the SIM is not this number's."],
  FAILED: ["bad", "Failed", "The check could not decide. Verify this user another way."],
  EXPIRED: ["muted", "Expired", "The phone did not finish in time. Start a new check."],
  PENDING: ["muted", "Still pending", "No final answer while the page was polling."],
};

// What a product would tell its user for each reason (docs/api.md, Reasons).
const REASONS = {
  NOT_ON_MOBILE_DATA: "The phone was not on mobile data, so the operator could not see its line. Switch Wi-Fi off, or verify another way.",
  CARRIER_UNSUPPORTED: "The phone's operator does not support silent verification. Verify another way.",
  NUMBER_UNSUPPORTED: "No SIM answers for this kind of number. Verify another way.",
  DEVICE_TIMEOUT: "The phone did not finish the redirect chain in time. Start a new check.",
  USER_NOT_AUTHENTICATED: "The operator could not authenticate the line (often: not on mobile data). Verify another way.",
  PROVIDER_ERROR: "The provider or the operator reported an error. Try again, or verify another way.",
  PROVIDER_REJECTED: "The provider refused this deployment's request: an operator must check its configuration.",
  REDIRECT_FAILED: "The phone could not follow the redirect chain. Try again, or verify another way.",
};

function showResult(view, httpStatus) {
  const [tone, title, generic] = VERDICTS[view.status] || ["bad", `HTTP ${httpStatus}`, view.detail || ""];
  const detail = REASONS[view.reason] || generic;
  $("#result").hidden = false;
  $("#result").dataset.status = view.status || "ERROR";
  $("#result").dataset.reason = view.reason || "";
  const badge = $("#result-badge");
  badge.className = `badge ${tone}`;
  badge.textContent = view.status || view.code || "ERROR";
  $("#result-title").textContent = view.reason ? `${title} · ${view.reason}` : title;
  const facts = [detail];
  if (view.provider) facts.push(`provider ${view.provider}`);
  if (view.binding) facts.push(`binding ${view.binding}`);
  $("#result-detail").textContent = facts.filter(Boolean).join(" · ");
  showSimSwap(view.sim_swap);
}

function showSimSwap(answer) {
  // The SIM-swap answer of a VERIFIED check that asked (docs/api.md, SIM swap): signed in the attestation too.
  const box = $("#sim-swap");
  box.hidden = !answer;
  if (!answer) return;
  const swapped = answer.swapped === null ? "unknown" : String(answer.swapped);
  box.dataset.swapped = swapped;
  box.className = `sim-swap ${swapped === "true" ? "bad-text" : swapped === "false" ? "good-text" : "muted"}`;
  const within = answer.changed_within_hours ? ` (last change within ${answer.changed_within_hours} h)` : "";
  box.textContent = {
    true: `SIM swapped within ${answer.max_age_hours} h${within}: hold payments and password resets.`,
    false: `No SIM swap within ${answer.max_age_hours} h.`,
    unknown: `No SIM-swap answer for ${answer.max_age_hours} h (${answer.reason}): treat as unknown.`,
  }[swapped];
}

function showStranded(last) {
  // What the app knows when its phone got no completion code: how the phone's chain ended.
  const where = last ? `${serviceOf(last.url)} answered ${last.status === null ? "nothing" : last.status}` : "Nothing answered";
  const advice = last && last.status === 412
    ? "The phone is not on mobile data, so the operator cannot see its line. Switch Wi-Fi off and start a new check, or verify another way."
    : "Start a new check, or verify another way.";
  $("#result").hidden = false;
  $("#result").dataset.status = "NO_COMPLETION_CODE";
  $("#result").dataset.reason = "";
  $("#result-badge").className = "badge bad";
  $("#result-badge").textContent = "NO CODE";
  $("#result-title").textContent = "The phone could not finish the check";
  $("#result-detail").textContent = `${where} on the phone, before the return to silentcheck. ${advice}`;
}

function decodeSegment(segment) {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "===".slice((base64.length + 3) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function stamp(label, seconds) {
  return typeof seconds === "number" ? `${label}${new Date(seconds * 1000).toISOString().replace(".000Z", "Z")}` : "";
}

function showAttestation(view) {
  const card = $("#attestation");
  const body = $("#attestation-body");
  card.hidden = false;
  body.replaceChildren();
  if (!view.attestation) {
    $("#attestation-note").textContent = "";
    body.append(el("p", { class: "muted no-attestation" }, "No attestation in this answer. ",
      "Final answers read with everything required carry a signed ES256 JWS."));
    return;
  }
  const parts = view.attestation.split(".");
  try {
    const header = decodeSegment(parts[0]);
    const payload = decodeSegment(parts[1]);
    const signatureBytes = Math.floor((parts[2] || "").length * 3 / 4);
    $("#attestation-note").textContent = `compact JWS · ${header.alg || "?"} · kid ${short(header.kid || "-", 12)}`;
    body.append(
      el("div", { class: "jws" },
        el("div", {}, el("h3", {}, "Header"), el("pre", { class: "code", id: "jws-header" }, JSON.stringify(header, null, 2))),
        el("div", {}, el("h3", {}, "Payload"), el("pre", { class: "code", id: "jws-payload" }, JSON.stringify(payload, null, 2)))),
      el("p", { class: "muted" }, `Signature: ${signatureBytes} bytes`, stamp(" · issued ", payload.iat),
        stamp(" · expires ", payload.exp), ". Verify it with the key set at ",
        el("a", { href: `${config.api}/.well-known/jwks.json`, target: "_blank" }, `${config.api}/.well-known/jwks.json`),
        " before trusting the payload."));
  } catch (error) {
    body.append(el("p", { class: "bad-text" }, `The attestation is not a compact JWS this page can decode: ${error}`));
  }
}

// -- one run -------------------------------------------------------------------------------------------

async function run(event) {
  event.preventDefault();
  const form = new FormData($("#verify-form"));
  const number = String(form.get("number")).trim();
  const sim = String(form.get("sim") || "").trim() || number;
  const provider = String(form.get("provider") || "");
  const bearer = String(form.get("bearer"));
  const simSwapHours = form.get("sim_swap_hours") ? Number(form.get("sim_swap_hours")) : null;
  const simChanged = form.get("sim_changed_hours_ago") ? Number(form.get("sim_changed_hours_ago")) : null;

  $("#verify").disabled = true;
  $("#steps").replaceChildren();
  $("#result").hidden = true;
  $("#attestation").hidden = true;
  $("#phone-frame").removeAttribute("src");
  $("#phone-idle").hidden = false;
  startedAt = Date.now();
  try {
    await verify(number, sim, provider, bearer, simSwapHours, simChanged);
  } catch (error) {
    step("The page stopped", "failed").line(String(error)).done("failed");
  } finally {
    $("#verify").disabled = false;
  }
}

async function verify(number, sim, provider, bearer, simSwapHours, simChanged) {
  const phoneStep = step("Phone ready");
  const phone = await phoneSettings("PUT", { sim, bearer, sim_changed_hours_ago: simChanged });
  if (phone.status !== 200) {
    phoneStep.line(`The phone refused the SIM: ${phone.body.detail || phone.status}`).done("failed");
    return;
  }
  showPhone(phone.body);
  phoneStep.line(kv("SIM", phone.body.sim), kv("connection", bearer === "cellular" ? "mobile data" : "Wi-Fi"),
    kv("address", phone.body.ip), simChanged !== null ? kv("SIM took the number", `${simChanged} h ago`) : null).done();

  const createStep = step("Check created");
  const created = await startCheck(number, provider, simSwapHours);
  createStep.line(call("POST", `${config.api}/checks`, created.status));
  if (created.status !== 201) {
    createStep.line(`${created.body.code || ""}: ${created.body.detail || ""}`).done("failed");
    showResult(created.body, created.status);
    return;
  }
  const check = created.body;
  createStep.line(kv("check", short(check.check_id, 12)), kv("provider", check.provider), kv("status", check.status),
    check.binding ? kv("binding", check.binding) : null).done();

  let code = null;
  let last = null;
  if (check.status === "PENDING" && check.check_url) {
    const chainStep = step("Redirect chain, followed by the phone's browser");
    const mark = await phoneLogMark();
    const arrived = await openInPhone(check.check_url);
    const hops = await phoneHopsAfter(mark);
    last = hops[hops.length - 1];
    chainStep.body.append(el("ol", { class: "hops" }, hops.map(hopRow)));
    if (!arrived) chainStep.line(`The phone's browser gave up after ${CHAIN_TIMEOUT_MS / 1000} s.`);
    chainStep.done(arrived && last && last.status !== null && last.status < 400 ? "done" : "failed");

    const returnStep = step("Return");
    const returned = last && serviceOf(last.url) === "silentcheck API" && pathOf(last.url).startsWith(`${config.api}/checks/return`);
    code = completionCodeInPhone();
    if (returned) returnStep.line(call("GET", `${config.api}/checks/return`, last.status));
    if (code) {
      returnStep.line(kv("completion code", short(code, 8)), " read from the return page in the phone's browser").done();
    } else {
      const where = last ? `${serviceOf(last.url)} answered ${last.status}` : "nothing answered";
      returnStep.line(`The chain ended without a completion code (${where}).`).done("failed");
    }
  } else if (check.status === "PENDING") {
    step("Nothing to open").line(`binding ${check.binding}: the app only polls`).done();
  }

  // A device-bound verdict is shown only with the completion code: without one, every poll reads PENDING (then
  // EXPIRED), so the app stops after one and tells the user what the phone saw.
  const stranded = check.status === "PENDING" && Boolean(check.check_url) && !code;
  const pollStep = step("Poll");
  let answer = { status: 200, body: check };
  let polls = 0;
  const deadline = Date.parse(check.expires_at) + 3000;
  while (polls < (stranded ? 1 : MAX_POLLS)) {
    answer = await poll(check, code);
    polls += 1;
    if (answer.status !== 200 || answer.body.status !== "PENDING" || Date.now() > deadline) break;
    await sleep(POLL_INTERVAL_MS);
  }
  pollStep.line(call("GET", `${config.api}/checks/{id}${code ? "?code=…" : ""}`, answer.status),
    kv("polls", polls), kv("status", answer.body.status || answer.body.code));
  if (stranded) {
    pollStep.line("Without a completion code the API shows PENDING, then EXPIRED, whatever the verdict: it shows a "
      + "device-bound verdict only to the app whose phone came back.");
  }
  pollStep.done(answer.status === 200 ? "done" : "failed");

  const resultStep = step("Result");
  if (stranded) {
    resultStep.line("The phone could not finish the check").done("failed");
    showStranded(last);
    return;
  }
  resultStep.line(kv("status", answer.body.status || answer.body.code),
    answer.body.reason ? kv("reason", answer.body.reason) : null,
    answer.body.sim_swap ? kv("sim_swap.swapped", String(answer.body.sim_swap.swapped)) : null).done(answer.body.status === "VERIFIED" ? "done" : "failed");
  showResult(answer.body, answer.status);
  if (answer.status === 200 && answer.body.status !== "PENDING") showAttestation(answer.body);
}

// -- start ---------------------------------------------------------------------------------------------

function usePreset(button) {
  $("#number").value = button.dataset.number;
  $("#sim").value = button.dataset.sim;
  document.querySelector(`input[name=provider][value="${button.dataset.provider}"]`).checked = true;
  document.querySelector(`input[name=bearer][value="${button.dataset.bearer}"]`).checked = true;
  $("#sim-swap-hours").value = button.dataset.simSwap || "";
  $("#sim-changed-hours-ago").value = button.dataset.simChanged || "";
}

async function init() {
  $("#verify-form").addEventListener("submit", run);
  for (const button of document.querySelectorAll(".presets button")) {
    button.addEventListener("click", () => usePreset(button));
  }
  try {
    config = await (await fetch("config.json")).json();
  } catch {
    // keep the defaults
  }
  try {
    const phone = await phoneSettings();
    showPhone(phone.status === 200 && phone.body.sim ? phone.body : null);
  } catch {
    if (config.phone_proxy) {
      $("#phone-command").textContent = `chromium --proxy-server=${config.phone_proxy} --proxy-bypass-list='<-loopback>' `
        + `--user-data-dir=$(mktemp -d) ${location.href}`;
    }
    $("#not-a-phone").hidden = false;
    $("#phone-chip").textContent = "Not a sandbox phone";
    $("#phone-chip").className = "chip chip-bad";
    $("#verify").disabled = true;
  }
  document.body.dataset.ready = "true";
}

init();
