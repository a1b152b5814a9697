// ussd web: the handset page. Every step goes through the gateway's JSON adapter (POST /ussd/json);
// the walk endpoints (/web/...) keep its instant, its language and its transcript (docs/web.md).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  setup: null,     // GET /web/setup
  walk: null,      // the walk's view (GET /web/walks/ID)
  answer: null,    // the adapter's last answer
  dialString: "",  // what is typed on the dialer
  active: false,   // a dialogue is on the screen and takes replies
  busy: 0,
};

// -- talking to the server ----------------------------------------------------------------------

async function call(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["content-type"] = "application/json";
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* a one-line refusal, not JSON */ }
  return { status: response.status, ok: response.ok, text, json };
}

async function busy(work) {
  state.busy += 1;
  document.body.dataset.busy = "1";
  try {
    return await work();
  } catch (error) {
    showError(`the page lost the server: ${error.message || error}`);
  } finally {
    state.busy -= 1;
    if (state.busy === 0) document.body.dataset.busy = "0";
  }
}

// -- set-up -------------------------------------------------------------------------------------

async function start() {
  await busy(async () => {
    const got = await call("GET", "/web/setup");
    if (!got.ok) { showError(got.text.trim()); return; }
    state.setup = got.json;
    const service = $("service");
    for (const s of state.setup.services) {
      const option = document.createElement("option");
      option.value = s.code;
      option.textContent = `${s.code} · ${s.name}`;
      service.appendChild(option);
    }
    $("at").value = state.setup.at;
    showInstant();
    $("tz").textContent = `(${state.setup.tz})`;
    $("save").hidden = !state.setup.record_dir;
    if (state.setup.record_dir) $("save").title = state.setup.record_dir;
    chooseService();
    await search("");
  });
}

function showInstant() {
  if (!state.walk) $("phone-clock").textContent = ($("at").value || "").slice(11, 16) || "--:--";
}

function chooseService() {
  const code = $("service").value;
  const chosen = (state.setup.services || []).find((s) => s.code === code);
  const lang = $("lang");
  lang.length = 1;
  for (const l of chosen ? chosen.languages : []) {
    const option = document.createElement("option");
    option.value = l;
    option.textContent = l;
    lang.appendChild(option);
  }
  if (!state.active) setDialString(code);
}

let searching = null;
function searchSoon() {
  clearTimeout(searching);
  searching = setTimeout(() => busy(() => search($("search").value)), 150);
}

async function search(text) {
  const got = await call("GET", `/web/subscribers?q=${encodeURIComponent(text)}&limit=12`);
  const list = $("results");
  list.textContent = "";
  if (!got.ok) {
    addItem(list, got.text.trim(), "empty");
    return;
  }
  if (got.json.subscribers.length === 0) addItem(list, "no subscriber holds these digits", "empty");
  for (const s of got.json.subscribers) {
    const item = document.createElement("li");
    item.dataset.msisdn = s.msisdn;
    item.innerHTML = `<span class="number"></span><span class="badge ${s.status}"></span><span class="offer"></span>`;
    item.querySelector(".number").textContent = s.msisdn;
    item.querySelector(".badge").textContent = s.status;
    item.querySelector(".offer").textContent = `${s.offer} · ${s.type}`;
    item.addEventListener("click", () => chooseSubscriber(s.msisdn));
    list.appendChild(item);
  }
  if (got.json.more) addItem(list, "more: type more digits", "empty");
}

function addItem(list, text, kind) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  list.appendChild(item);
}

function chooseSubscriber(msisdn) {
  $("msisdn").value = msisdn;
  for (const item of $("results").children) item.classList.toggle("chosen", item.dataset.msisdn === msisdn);
  showWho();
}

function showWho() {
  const number = $("msisdn").value.trim();
  $("dial-who").textContent = number ? `as ${number}` : "choose a subscriber";
}

// -- the phone ----------------------------------------------------------------------------------

function setDialString(text) {
  state.dialString = text;
  $("dial-string").textContent = text;
}

function press(key) {
  const button = document.querySelector(`.key[data-key="${CSS.escape(key)}"]`);
  if (button) {
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), 120);
  }
  if (state.active) {
    const input = $("ussd-input");
    input.value += key;
    input.focus();
  } else {
    setDialString(state.dialString + key);
  }
}

function erase() {
  if (state.active) {
    const input = $("ussd-input");
    input.value = input.value.slice(0, -1);
  } else {
    setDialString(state.dialString.slice(0, -1));
  }
}

function callOrSend() {
  if (state.active) return send();
  if (!$("ussd").hidden) return hangUp();  // an ended dialogue's screen: the key closes it
  return dial();
}

async function dial() {
  hideError();
  const msisdn = $("msisdn").value.trim();
  if (!msisdn) { showError("choose a subscriber (or type a number) first"); return; }
  if (!state.dialString) { showError("type a code to dial, as #122#"); return; }
  await busy(async () => {
    const asked = { code: state.dialString, msisdn, lang: $("lang").value || null, at: $("at").value };
    const made = await call("POST", "/web/walks", asked);
    if (!made.ok) { showError(made.text.trim()); return; }
    state.walk = made.json;
    $("saved").textContent = "";
    showWalk();
    await step(null);
  });
}

async function send() {
  if (!state.walk || !state.active) return;
  const input = $("ussd-input");
  const reply = input.value;
  input.value = "";
  await busy(() => step(reply));
}

async function step(reply) {
  hideError();
  const body = { session: state.walk.session, msisdn: state.walk.msisdn, code: state.walk.code };
  if (reply !== null) body.input = reply;
  $("raw-request").textContent = `POST /ussd/json\n${JSON.stringify(body, null, 2)}`;
  const got = await call("POST", "/ussd/json", body);
  $("raw-status").textContent = String(got.status);
  $("raw-status").className = got.ok ? "ok" : "bad";
  $("raw-answer").textContent = got.text;  // the bytes as they came, as an integrator receives them
  if (!got.ok) {
    showError(got.text.trim());
  } else {
    state.answer = got.json;
    showScreen(got.json);
  }
  await refreshWalk();
}

async function refreshWalk() {
  const got = await call("GET", `/web/walks/${state.walk.walk}`);
  if (!got.ok) { showError(got.text.trim()); return; }
  state.walk = got.json;
  showWalk();
}

function showScreen(answer) {
  state.active = !answer.end;
  $("dialer").hidden = true;
  $("ussd").hidden = false;
  $("ussd-text").textContent = answer.text;
  $("ussd-input").hidden = answer.end;
  $("cancel").hidden = answer.end;
  $("send").textContent = answer.end ? "OK" : "Send";
  if (!answer.end) $("ussd-input").focus();
}

function hangUp() {
  state.active = false;
  $("ussd").hidden = true;
  $("dialer").hidden = false;
  $("ussd-input").value = "";
  setDialString($("service").value);
  $("screen-status").textContent = state.walk ? "hung up: start a new walk with the call key" : "ready";
}

function showWalk() {
  const walk = state.walk;
  const steps = walk.steps;
  const last = steps[steps.length - 1];
  $("phone-clock").textContent = walk.at.slice(11, 16);
  $("fact-at").textContent = walk.at.slice(0, 19).replace("T", " ");
  if (last) {
    const unit = last.coding === "gsm7" ? "septets" : "UCS-2 units";
    $("fact-state").textContent = last.end ? "END" : "CON";
    $("fact-screen").textContent = last.screen || "(none)";
    $("fact-page").textContent = `${last.page}/${last.pages}`;
    $("fact-units").textContent = `${last.units}/${last.limit} ${unit}`;
    $("fact-coding").textContent = last.coding;
    const fill = $("meter-fill");
    fill.style.width = `${Math.min(100, (100 * last.units) / last.limit)}%`;
    fill.classList.toggle("full", last.units > 0.9 * last.limit);
    $("screen-status").textContent = `${last.end ? "END" : "CON"} page ${last.page}/${last.pages} · `
      + `${last.units}/${last.limit} ${unit}` + (last.screen ? ` · ${last.screen}` : "");
  }
  const log = $("log");
  log.textContent = "";
  for (const s of steps) {
    const item = document.createElement("li");
    const what = document.createElement("span");
    what.className = s.reply === null ? "" : "reply";
    what.textContent = s.reply === null ? `dial ${walk.code}` : (s.reply === "" ? "(empty)" : s.reply);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = ` → ${s.screen || "(no screen)"} ${s.page}/${s.pages}${s.end ? " END" : ""} · ${s.at.slice(11, 19)}`;
    item.append(what, meta);
    log.appendChild(item);
  }
  const download = $("download");
  download.classList.toggle("disabled", steps.length === 0);
  download.href = steps.length ? `/web/walks/${walk.walk}/transcript` : "#";
  $("save").classList.toggle("disabled", steps.length === 0);
  document.body.dataset.steps = String(steps.length);
}

async function moveClock(text) {
  hideError();
  if (!state.walk) { showError("dial first: the clock moves a walk's time (before that, edit the instant)"); return; }
  await busy(async () => {
    const got = await call("POST", `/web/walks/${state.walk.walk}/clock`, { at: text });
    if (!got.ok) { showError(got.text.trim()); return; }
    state.walk = got.json;
    showWalk();
    $("screen-status").textContent = `clock: ${got.json.at}`;
  });
}

async function save() {
  if (!state.walk) return;
  await busy(async () => {
    const got = await call("POST", `/web/walks/${state.walk.walk}/transcript`);
    if (!got.ok) { showError(got.text.trim()); return; }
    $("saved").textContent = `saved: ${got.json.path}`;
  });
}

function showError(text) {
  const box = $("phone-error");
  box.textContent = text;
  box.hidden = false;
}

function hideError() {
  $("phone-error").hidden = true;
}

// -- wiring -------------------------------------------------------------------------------------

function typing(target) {
  return target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const key of document.querySelectorAll(".key")) key.addEventListener("click", () => press(key.dataset.key));
  $("call").addEventListener("click", () => callOrSend());
  $("erase").addEventListener("click", erase);
  $("hangup").addEventListener("click", hangUp);
  $("cancel").addEventListener("click", hangUp);
  $("send").addEventListener("click", () => (state.active ? send() : hangUp()));
  $("service").addEventListener("change", chooseService);
  $("search").addEventListener("input", searchSoon);
  $("msisdn").addEventListener("input", showWho);
  $("at").addEventListener("input", showInstant);
  $("save").addEventListener("click", save);
  $("move").addEventListener("click", () => moveClock($("clock-text").value.trim()));
  $("clock-text").addEventListener("keydown", (e) => { if (e.key === "Enter") moveClock($("clock-text").value.trim()); });
  for (const chip of document.querySelectorAll("[data-move]")) chip.addEventListener("click", () => moveClock(chip.dataset.move));
  $("ussd-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); send(); }
    if (e.key === "Escape") hangUp();
  });
  document.addEventListener("keydown", (e) => {
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[0-9*#]$/.test(e.key)) { e.preventDefault(); press(e.key); }
    else if (e.key === "Enter") { e.preventDefault(); callOrSend(); }
    else if (e.key === "Backspace") { e.preventDefault(); erase(); }
    else if (e.key === "Escape") hangUp();
  });
  showWho();
  start();
});
