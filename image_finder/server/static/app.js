// Image Finder's web app: search by a photo or words, look at a result, manage folders.
// Plain JS over the JSON API (/api/v1); the browser's login cookie carries the token.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const MATCH_LABELS = { "this image": "This image", identical: "Identical", "same picture": "Same picture" };

let canManage = false;
let uploads = new Map(); // history entry -> the photo it searched with (this tab only)
let uploadCount = 0;
let current = null; // the result shown in the detail view

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, options = {}) {
  const response = await fetch(API + path, { credentials: "same-origin", ...options });
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = data?.error || {};
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
  }
  return data;
}

function say(text, isError = false) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

function failed(error) {
  if (error.status === 401) { showSignIn(); return; }
  if (error.status === 429 || error.status === 503) {
    say(`${error.message} (the server is busy)`, true);
    return;
  }
  say(error.message, true);
}

function showSignIn() {
  $("signin").hidden = false;
  $("query").hidden = true;
  $("manage").hidden = true;
  say("");
}

// -- the library line and the folders ---------------------------------------------------------

async function loadStatus() {
  let status;
  try { status = await api("/status"); } catch (error) { failed(error); return false; }
  const server = status.server;
  canManage = server.scope === "manage";
  const state = server.model_state === "loading" ? " · model loading…" :
    server.model_state === "failed" ? ` · ${server.model_error}` : "";
  $("library").textContent = `${status.images.toLocaleString()} images · ${status.model || "no model yet"}${state}`;
  $("manage").hidden = !canManage;
  if (canManage) { renderFolders(status.folders || []); resumeJobs(); }
  if (server.model_state === "loading") setTimeout(loadStatus, 1500);
  return true;
}

function renderFolders(folders) {
  const list = $("folders");
  list.replaceChildren();
  if (!folders.length) {
    const li = document.createElement("li");
    li.textContent = "No folders yet: add one below.";
    list.append(li);
  }
  for (const folder of folders) {
    const li = document.createElement("li");
    const path = document.createElement("span");
    path.className = "path";
    path.textContent = folder.path;
    const count = document.createElement("span");
    count.className = "muted";
    count.textContent = `${folder.images.toLocaleString()} images` +
      (folder.complete ? "" : " · unfinished") + (folder.online ? "" : " · offline");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${folder.path} from the library (the files stay)`);
    remove.addEventListener("click", () => removeFolder(folder.path));
    li.append(path, count, remove);
    list.append(li);
  }
}

async function removeFolder(path) {
  if (!confirm(`Take ${path} out of the library? Its files stay where they are.`)) return;
  try {
    const answer = await api(`/folders?path=${encodeURIComponent(path)}`, { method: "DELETE" });
    say(`Removed ${answer.path} (${answer.removed.toLocaleString()} images).`);
    renderFolders(answer.folders);
    loadStatus();
  } catch (error) { failed(error); }
}

async function addFolder(event) {
  event.preventDefault();
  const path = $("folder-path").value.trim();
  if (!path) return;
  try {
    const answer = await api("/folders", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path }),
    });
    $("folder-path").value = "";
    followJob(answer.job);
  } catch (error) { failed(error); }
}

async function resumeJobs() {
  if (!$("job").hidden) return;
  try {
    const { jobs } = await api("/jobs");
    const running = jobs.find((job) => job.state === "running" || job.state === "queued");
    if (running) followJob(running);
  } catch (error) { /* the folders still show */ }
}

function showJob(job) {
  $("job").hidden = false;
  const progress = $("job-progress");
  if (job.total) { progress.max = job.total; progress.value = job.done; } else { progress.removeAttribute("value"); }
  $("job-text").textContent = job.message || `${job.state}…`;
  $("job-cancel").hidden = job.state !== "running" && job.state !== "queued";
}

function followJob(job) {
  showJob(job);
  $("job-cancel").onclick = async () => {
    try { showJob(await api(`/jobs/${job.id}`, { method: "DELETE" })); } catch (error) { failed(error); }
  };
  const events = new EventSource(job.events);
  events.addEventListener("progress", (event) => showJob(JSON.parse(event.data)));
  events.addEventListener("end", (event) => {
    events.close();
    const done = JSON.parse(event.data);
    showJob(done);
    say(done.state === "failed" ? done.message : `Indexing ${done.state}: ${done.message}`, done.state === "failed");
    setTimeout(() => { $("job").hidden = true; }, 4000);
    loadStatus();
  });
  events.onerror = () => { if (events.readyState === EventSource.CLOSED) loadStatus(); };
}

// -- searching -------------------------------------------------------------------------------

function searchUrl(kind, value) {
  const params = new URLSearchParams();
  if (kind === "text") params.set("q", value);
  if (kind === "item") params.set("item", value);
  if (kind === "upload") params.set("upload", value);
  return "/?" + params.toString();
}

async function runSearch(kind, value, { push = true } = {}) {
  let body, headers = {};
  const words = $("words").value.trim();
  if (kind === "upload") {
    body = new FormData();
    body.append("image", value.file, value.file.name || "photo");
    if (words) body.append("text", words);
  } else {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(kind === "text" ? { text: value } : { item: Number(value) });
  }
  say("Searching…");
  $("search-button").disabled = true;
  const started = performance.now();
  try {
    const outcome = await api("/search", { method: "POST", headers, body });
    outcome.elapsed = performance.now() - started;
    if (push) {
      let key = value;
      if (kind === "upload") { key = String(++uploadCount); uploads.set(key, value); }
      history.pushState({ kind, key, outcome }, "", searchUrl(kind, key));
    }
    render(outcome);
  } catch (error) {
    failed(error);
  } finally {
    $("search-button").disabled = false;
  }
}

function render(outcome) {
  const title = $("results-title");
  title.hidden = false;
  const n = outcome.results.length;
  title.textContent = n === 0 ? `No results for ${outcome.query}` :
    outcome.close_matches ? `${n} results for ${outcome.query}` :
    `No close matches for ${outcome.query}; the closest are:`;
  say(outcome.notice || (outcome.elapsed ? `Found in ${outcome.elapsed.toFixed(0)} ms.` : ""));
  const grid = $("results");
  grid.replaceChildren();
  for (const result of outcome.results) grid.append(resultTile(result));
  document.title = `${outcome.query} – Image Finder`;
}

function resultTile(result) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "result";
  const score = result.score.toFixed(2);
  const match = MATCH_LABELS[result.match] || "";
  button.setAttribute("aria-label", `${result.filename}, score ${score}${match ? ", " + match : ""}`);
  const img = document.createElement("img");
  img.src = `${result.thumbnail}?size=360`;
  img.alt = result.filename;
  img.loading = "lazy";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = result.filename;
  name.title = result.path;
  const line = document.createElement("span");
  line.className = "score";
  const scoreText = document.createElement("span");
  scoreText.textContent = score;
  const matchText = document.createElement("span");
  matchText.className = "match";
  matchText.textContent = match;
  line.append(scoreText, matchText);
  button.append(img, name, line);
  button.addEventListener("click", () => openDetail(result));
  li.append(button);
  return li;
}

function fact(list, term, value) {
  if (value === null || value === undefined || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["kB", "MB", "GB"];
  let value = n, unit = -1;
  do { value /= 1024; unit++; } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function openDetail(result) {
  current = result;
  const image = $("detail-image");
  image.src = `${result.thumbnail}?size=1024`;
  image.alt = result.filename;
  $("detail-name").textContent = result.filename;
  const match = MATCH_LABELS[result.match];
  $("detail-score").textContent = `Score ${result.score.toFixed(2)}${match ? " · " + match : ""}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  fact(facts, "Path", result.path);
  if (result.width && result.height) fact(facts, "Size", `${result.width} × ${result.height} px`);
  fact(facts, "File", bytes(result.bytes));
  fact(facts, "Modified", new Date(result.modified).toLocaleString());
  $("detail-open").href = result.image;
  $("detail").showModal();
  $("detail-similar").focus();
}

// -- the query: drop, paste, pick ---------------------------------------------------------------

function useFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) { say(`${file.name} is not an image.`, true); return; }
  const preview = $("query-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.alt = `The photo searched with: ${file.name || "pasted image"}`;
  preview.hidden = false;
  runSearch("upload", { file });
}

function restore(state) {
  if (!state) {
    const params = new URLSearchParams(location.search);
    if (params.get("q")) { $("words").value = params.get("q"); runSearch("text", params.get("q"), { push: false }); }
    else if (params.get("item")) runSearch("item", params.get("item"), { push: false });
    else if (params.get("upload")) say("Drop the photo again to repeat this search.");
    return;
  }
  if (state.kind === "text") $("words").value = state.key;
  render(state.outcome);
}

function wire() {
  const drop = $("drop");
  $("choose").addEventListener("click", () => $("file").click());
  $("take").addEventListener("click", () => $("camera").click());
  for (const input of [$("file"), $("camera")]) {
    input.addEventListener("change", () => { useFile(input.files[0]); input.value = ""; });
  }
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    useFile(event.dataTransfer.files[0]);
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => { event.preventDefault(); useFile(event.dataTransfer.files[0]); });
  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) { event.preventDefault(); useFile(file); }
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const words = $("words").value.trim();
    if (words) runSearch("text", words);
    else say("Choose a photo, or type what the pictures should show.");
  });
  $("detail-similar").addEventListener("click", () => {
    $("detail").close();
    if (current) runSearch("item", String(current.id));
  });
  $("folder-form").addEventListener("submit", addFolder);
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.href = "/?token=" + encodeURIComponent($("token").value.trim());
  });
  window.addEventListener("popstate", (event) => restore(event.state));
}

wire();
loadStatus().then((ok) => { if (ok) restore(history.state); });
