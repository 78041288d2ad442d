// Image Finder's web app: search by a photo or words, look at a result, manage folders.
// Plain JS over the JSON API (/api/v1); the browser's login cookie carries the token.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const MATCH_LABELS = { "this image": "This image", identical: "Identical", "same picture": "Same picture",
  clip: "holds the clip", frame: "a frame of the clip" };

let canManage = false;
let canMatch = false; // a match or manage token: the hash banks' matches (matches.js)
let uploads = new Map(); // history entry -> the photo it searched with (this tab only)
let uploadCount = 0;
let shownResult = null; // the result shown in the detail view

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// A catalogue's item ids are 62-bit path hashes, past the 2^53 a JavaScript number holds
// exactly: ids are read as strings (the API takes them back as strings too).
const parseIds = (text) => JSON.parse(text.replace(/"id":\s*(\d{16,})/g, '"id":"$1"'));

async function api(path, options = {}) {
  const response = await fetch(API + path, { credentials: "same-origin", ...options });
  const data = response.headers.get("content-type")?.includes("json") ? parseIds(await response.text()) : null;
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
  $("signin-refused").hidden = location.hash !== "#token-refused";
  for (const id of ["query", "manage", "filters", "results-title", "results", "parts", "selection",
    "duplicates", "nav-duplicates", "matches", "nav-matches"]) $(id).hidden = true;
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
  const many = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
  const others = (status.moments || 0) + (status.pages || 0) + (status.medical_images || 0);
  const held = others ? [many(status.images - others, "photo"),
    status.videos ? many(status.videos, "video") : "", status.documents ? many(status.documents, "document") : "",
    status.medical ? many(status.medical, "medical image") : ""].filter(Boolean).join(" · ")
    : `${status.images.toLocaleString()} images`;
  $("library").textContent = `${held} · ${status.model || "no model yet"}${state}`;
  canMatch = canManage || server.scope === "match";
  $("manage").hidden = !canManage || onDuplicatesPage() || onMatchesPage();
  $("nav-duplicates").hidden = !canManage;
  $("nav-matches").hidden = !canMatch;
  if (location.hash === "#token-refused") history.replaceState(history.state, "", location.pathname + location.search);
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

// intro: what the page said when the job started (kept before the job's last words)
function followJob(job, onEnd = null, intro = "") {
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
    const words = done.state === "failed" ? done.message : `Indexing ${done.state}: ${done.message}`;
    say(intro ? `${intro} ${words}` : words, done.state === "failed");
    setTimeout(() => { $("job").hidden = true; }, 4000);
    loadStatus();
    if (onEnd) onEnd(done);
  });
  events.onerror = () => { if (events.readyState === EventSource.CLOSED) loadStatus(); };
}

// -- searching -------------------------------------------------------------------------------

// A query: {kind: "upload" | "text" | "item" | "items", value, unlike: [ids], filters: {}}
let current = null;

function filtersNow() {
  const filters = {};
  const after = $("f-after").value, before = $("f-before").value;
  if (after) filters.taken_after = after;
  if (before) filters.taken_before = before;
  const width = Number($("f-width").value);
  if (width > 0) filters.min_width = width;
  if ($("f-format").value) filters.formats = [$("f-format").value];
  if ($("f-orientation").value) filters.orientation = $("f-orientation").value;
  if ($("f-kind").value) filters.kind = $("f-kind").value;
  const length = Number($("f-min-duration").value);
  if (length > 0) filters.min_duration = length;
  const modality = $("f-modality").value.trim(), bodyPart = $("f-body-part").value.trim();
  if (modality) filters.modality = modality;
  if (bodyPart) filters.body_part = bodyPart;
  return filters;
}

function showFilters(filters = {}) {
  $("f-after").value = filters.taken_after || "";
  $("f-before").value = filters.taken_before || "";
  $("f-width").value = filters.min_width || "";
  $("f-format").value = (filters.formats || [""])[0];
  $("f-orientation").value = filters.orientation || "";
  $("f-kind").value = filters.kind || "";
  $("f-min-duration").value = filters.min_duration || "";
  $("f-modality").value = filters.modality || "";
  $("f-body-part").value = filters.body_part || "";
}

const FILTER_PARAMS = { taken_after: "after", taken_before: "before", min_width: "minw", orientation: "orient",
  kind: "kind", min_duration: "minlen", modality: "modality", body_part: "body" };

function searchUrl(query, key) {
  const params = new URLSearchParams();
  if (query.kind === "text") params.set("q", query.value);
  if (query.kind === "item") params.set("item", query.value);
  if (query.kind === "items") params.set("like", query.value.join(","));
  if (query.kind === "upload") params.set("upload", key);
  if (query.unlike.length) params.set("unlike", query.unlike.join(","));
  for (const [name, param] of Object.entries(FILTER_PARAMS)) {
    if (query.filters[name]) params.set(param, query.filters[name]);
  }
  if (query.filters.formats) params.set("format", query.filters.formats.join(","));
  return "/?" + params.toString();
}

function queryFromUrl() {
  const params = new URLSearchParams(location.search);
  const ids = (name) => (params.get(name) || "").split(",").filter(Boolean); // ids stay strings (parseIds)
  const filters = {};
  for (const [name, param] of Object.entries(FILTER_PARAMS)) {
    if (params.get(param)) filters[name] = ["min_width", "min_duration"].includes(name) ? Number(params.get(param)) : params.get(param);
  }
  if (params.get("format")) filters.formats = params.get("format").split(",");
  const base = { unlike: ids("unlike"), filters };
  if (params.get("q")) return { ...base, kind: "text", value: params.get("q") };
  if (params.get("item")) return { ...base, kind: "item", value: params.get("item") };
  if (params.get("like")) return { ...base, kind: "items", value: ids("like") };
  if (params.get("upload")) return { ...base, kind: "upload", value: null };
  if (params.get("clip")) return { ...base, kind: "clip", value: null };
  return null;
}

function requestFor(query) {
  const filters = Object.keys(query.filters).length ? query.filters : undefined;
  if (query.kind === "upload") {
    const body = new FormData();
    body.append("image", query.value.file, query.value.file.name || "photo");
    if (query.unlike.length) body.append("unlike", query.unlike.join(","));
    if (filters) body.append("filters", JSON.stringify(filters));
    return { body, headers: {} };
  }
  const json = { filters, unlike: query.unlike.length ? query.unlike : undefined };
  if (query.kind === "text") json.text = query.value;
  if (query.kind === "item") json.item = String(query.value);
  if (query.kind === "items") json.like = query.value;
  return { body: JSON.stringify(json), headers: { "Content-Type": "application/json" } };
}

function showQuery(kind) {
  // the query area shows what is searched now: a photo's preview, or the words
  if (kind !== "upload") {
    const preview = $("query-preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.removeAttribute("src");
    preview.hidden = true;
  }
  if (kind !== "text") $("words").value = "";
}

async function runSearch(kind, value, { push = true, unlike = [], filters = filtersNow() } = {}) {
  const query = { kind, value, unlike, filters };
  showQuery(kind);
  const { body, headers } = requestFor(query);
  say("Searching…");
  $("search-button").disabled = true;
  const started = performance.now();
  try {
    const outcome = await api("/search", { method: "POST", headers, body });
    outcome.elapsed = performance.now() - started;
    if (push) {
      let key = "";
      if (kind === "upload") { key = String(++uploadCount); uploads.set(key, value); }
      const saved = { ...query, value: kind === "upload" ? null : value };
      history.pushState({ query: saved, key, outcome }, "", searchUrl(query, key));
    }
    current = query;
    render(outcome);
  } catch (error) {
    $("results-title").hidden = true; // the results shown were for another query
    $("results").replaceChildren();
    $("parts").textContent = "";
    updateSelection();
    failed(error);
  } finally {
    $("search-button").disabled = false;
  }
}

function notLikeThis(result) {
  if (!current || current.kind === "text" || current.kind === "clip") return;
  runSearch(current.kind, current.value, { unlike: [...current.unlike, result.id], filters: current.filters });
}

function updateSelection() {
  const chosen = [...document.querySelectorAll("#results .pick:checked")].map((box) => box.value);
  $("selection").hidden = chosen.length < 2;
  $("search-these").textContent = `Search with these ${chosen.length}`;
  $("search-these").onclick = () => runSearch("items", chosen);
}

function render(outcome) {
  const title = $("results-title");
  title.hidden = false;
  const n = outcome.results.length;
  // a file's query is named by its file name (a full path would widen a phone's page)
  const label = current && current.kind !== "text" ? outcome.query.split(/[\\/]/).pop() : outcome.query;
  title.textContent = n === 0 ? `No results for ${label}` :
    outcome.close_matches ? `${n} result${n === 1 ? "" : "s"} for ${label}` :
    `No close matches for ${label}; the closest are:`;
  say(outcome.notice || (outcome.elapsed ? `Found in ${outcome.elapsed.toFixed(0)} ms.` : ""));
  const grid = $("results");
  grid.replaceChildren();
  for (const result of outcome.results) grid.append(resultTile(result));
  updateSelection();
  const parts = outcome.parts || {};
  const chips = [...(parts.like || []).slice(parts.like && parts.like.length > 1 ? 0 : 1),
    ...(parts.unlike || []).map((label) => `not ${label}`),
    ...Object.entries(parts.conditions || {}).map(([name, value]) => `${name.replace("_", " ")}: ${value}`)];
  $("parts").textContent = chips.length ? `Searching with: ${chips.join(" · ")}` : "";
  document.title = `${label} – Image Finder`;
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
  if (result.video) {  // a video's moment: its time on the thumbnail
    const moment = document.createElement("span");
    moment.className = "moment";
    const at = result.to !== undefined ? `${clock(result.from)}–${clock(result.to)}` : clock(result.part.seconds);
    moment.textContent = `▶ ${at}`;
    button.append(moment);
    button.setAttribute("aria-label", `${result.filename} at ${at}, score ${score}${match ? ", " + match : ""}`);
  }
  if (result.document) {  // a document's page: its number on the thumbnail
    const page = document.createElement("span");
    page.className = "moment";
    page.textContent = `p. ${result.part.number}`;
    button.append(page);
    button.setAttribute("aria-label", `${result.filename}, page ${result.part.number}, score ${score}${match ? ", " + match : ""}`);
  }
  if (result.scan || (result.part && result.part.kind === "frame")) {  // a medical image
    const scan = document.createElement("span");
    scan.className = "moment";
    const frame = result.part && result.part.kind === "frame" ? ` · frame ${result.part.number}` : "";
    const more = result.slices ? ` · +${result.slices.length} slice${result.slices.length > 1 ? "s" : ""}` : "";
    scan.textContent = `${(result.scan && result.scan.modality) || "DICOM"}${frame}${more}`;
    button.append(scan);
  }
  const line = document.createElement("span");
  line.className = "score";
  const scoreText = document.createElement("span");
  scoreText.textContent = score;
  const matchText = document.createElement("span");
  matchText.className = "match";
  matchText.textContent = match;
  line.append(scoreText, matchText);
  button.append(img, name, line);
  if (result.text) {  // the words written in it: the ones searched for marked
    button.classList.add("has-snippet");
    button.append(snippetOf(result.text.snippet));
    button.setAttribute("aria-label", `${button.getAttribute("aria-label") || result.filename}, says: ${result.text.snippet.replace(/[[\]]/g, "")}`);
  }
  button.addEventListener("click", () => openDetail(result));
  const tools = document.createElement("div");
  tools.className = "tile-tools";
  const pick = document.createElement("input");
  pick.type = "checkbox";
  pick.className = "pick";
  pick.value = result.id;
  pick.setAttribute("aria-label", `Select ${result.filename}`);
  pick.addEventListener("change", updateSelection);
  tools.append(pick);
  if (current && current.kind !== "text" && current.kind !== "clip") {
    const unlike = document.createElement("button");
    unlike.type = "button";
    unlike.className = "unlike";
    unlike.textContent = "✕";
    unlike.title = "Not like this";
    unlike.setAttribute("aria-label", `Not like ${result.filename}`);
    unlike.addEventListener("click", () => notLikeThis(result));
    tools.append(unlike);
  }
  li.append(button, tools);
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

// a moment's time as a player shows it: 01:23, or 1:02:03 past an hour
function clock(seconds) {
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

// "Hotel [Adler]…" -> text with the words matched in <mark> (built as nodes: never markup)
function snippetOf(text) {
  const out = document.createElement("span");
  out.className = "snippet";
  for (const [n, piece] of text.replace(/\s+/g, " ").split(/[[\]]/).entries()) {
    if (!piece) continue;
    if (n % 2) {
      const mark = document.createElement("mark");
      mark.textContent = piece;
      out.append(mark);
    } else {
      out.append(document.createTextNode(piece));
    }
  }
  return out;
}

// the detail shows a video's moment playing from its time (a media fragment), its other
// moments a click away; a photo as itself
function showMoment(result) {
  const video = $("detail-video");
  const moments = $("detail-moments");
  moments.replaceChildren();
  video.hidden = !result.video;
  $("detail-image").hidden = Boolean(result.video);
  if (!result.video) { video.removeAttribute("src"); video.load(); return; }
  video.src = `${result.video}#t=${result.part.seconds}`;
  video.play().catch(() => {});  // a browser may wait for a gesture: the controls are there
  for (const moment of result.moments || []) {
    const jump = document.createElement("button");
    jump.type = "button";
    jump.className = "secondary";
    jump.textContent = `${clock(moment.seconds)} · ${moment.score.toFixed(2)}`;
    jump.addEventListener("click", () => { video.currentTime = moment.seconds; video.play().catch(() => {}); });
    moments.append(jump);
  }
}

// what the picture says, as read (selectable, to copy); nothing shown where it says nothing
async function showText(result) {
  const box = $("detail-text");
  box.hidden = true;
  let found;
  try { found = await api(`/items/${result.id}/text`); } catch { return; }
  if (shownResult !== result || !found.text) return;
  $("detail-text-body").textContent = found.text;
  box.hidden = false;
}

function openDetail(result) {
  shownResult = result;
  showText(result);
  const image = $("detail-image");
  image.src = `${result.thumbnail}?size=1024`;
  image.alt = result.filename;
  showMoment(result);
  $("detail-name").textContent = result.video ? `${result.filename} · ${clock(result.part.seconds)}`
    : result.document ? `${result.filename} · p. ${result.part.number}`
    : result.part && result.part.kind === "frame" ? `${result.filename} · frame ${result.part.number}` : result.filename;
  const match = MATCH_LABELS[result.match];
  $("detail-score").textContent = `Score ${result.score.toFixed(2)}${match ? " · " + match : ""}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  fact(facts, "Path", result.path);
  if (result.width && result.height) fact(facts, "Size", `${result.width} × ${result.height} px`);
  fact(facts, "File", bytes(result.bytes));
  fact(facts, "Modified", new Date(result.modified).toLocaleString());
  if (result.scan) {  // what a medical image shows of itself: never its patient
    const scan = result.scan;
    fact(facts, "Scan", [scan.modality, scan.body_part].filter(Boolean).join(" · ") || "DICOM");
    if (scan.study_date) fact(facts, "Study date", scan.study_date);
    if (scan.series) fact(facts, "Series", scan.series);
    if (result.slices) fact(facts, "Also matching", result.slices.map((s) => `${s.label} (${s.score.toFixed(2)})`).join(", "));
  }
  // a page opens its document there (the browser's PDF viewer reads #page=N)
  $("detail-open").href = result.video || (result.document && `${result.document}#page=${result.part.number}`) || result.image;
  $("detail").showModal();
  $("detail-similar").focus();
}

// -- duplicates (manage tokens) ------------------------------------------------------------------

const onDuplicatesPage = () => location.pathname === "/duplicates";
const TIER_TITLES = { identical: "Identical files", same: "The same picture", similar: "Similar pictures",
  "same-video": "The same video or document", still: "A still from the video" };
const MATCH_WORDS = { keep: "Keep", identical: "identical", same: "same picture", similar: "similar",
  "same-video": "same video", "same-document": "same document", still: "still" };
let dupPage = 1;

function dupItem(item) {
  const li = document.createElement("li");
  const keep = item.match === "keep";
  li.className = "dup-item" + (keep ? " keep" : "");
  const img = document.createElement("img");
  img.src = `${API}/items/${item.id}/thumbnail?size=360`;
  img.alt = item.filename;
  img.loading = "lazy";
  const facts = document.createElement("div");
  facts.className = "facts";
  const name = document.createElement("strong");
  name.textContent = item.filename;
  name.title = item.path;
  const details = document.createElement("span");
  details.className = "muted";
  const size = item.width && item.height ? `${item.width} × ${item.height} · ` : "";
  details.textContent = `${size}${bytes(item.bytes)} · ${item.path.slice(0, item.path.length - item.filename.length - 1) || "/"}`;
  facts.append(name, details);
  const label = document.createElement("label");
  if (keep) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = item.reference ? "Keep (reference folder)" : "Keep";
    label.append(badge);
  } else {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "dup-pick";
    box.value = item.id;
    // copies of the keeper are checked; pictures only similar to it are different pictures
    box.checked = ["identical", "same", "same-video", "same-document"].includes(item.match);
    box.setAttribute("aria-label", `Move ${item.filename} to the trash`);
    const words = document.createElement("span");
    const where = item.covers ? ` of ${clock(item.covers.from)}–${clock(item.covers.to)}`
      : item.at !== undefined ? ` at ${clock(item.at)}` : "";
    words.textContent = `${MATCH_WORDS[item.match] || item.match}${where} · ${item.score.toFixed(2)}`;
    label.append(box, words);
  }
  li.append(img, facts, label);
  return li;
}

function dupGroup(group, n) {
  const li = document.createElement("li");
  li.className = "dup-group";
  const title = document.createElement("h3");
  title.textContent = `${n}. ${TIER_TITLES[group.tier] || group.tier} · ${group.items.length} files`;
  const items = document.createElement("ul");
  items.className = "dup-items";
  for (const item of group.items) items.append(dupItem(item));
  li.append(title, items);
  return li;
}

async function loadDuplicates(more = false) {
  dupPage = more ? dupPage + 1 : 1;
  const tier = $("dup-tier").value;
  $("dup-summary").textContent = more ? "" : "Looking for duplicates…";
  try {
    const found = await api(`/duplicates?tier=${tier}&page=${dupPage}&per_page=20`);
    const list = $("dup-groups");
    if (!more) list.replaceChildren();
    found.groups.forEach((group, i) => list.append(dupGroup(group, (dupPage - 1) * 20 + i + 1)));
    $("dup-summary").textContent = found.total_groups === 0 ? "No duplicates found." :
      `${found.total_groups.toLocaleString()} groups; moving the checked copies frees up to ${bytes(found.reclaimable_bytes)}.`;
    $("dup-more").hidden = dupPage >= found.pages;
  } catch (error) { $("dup-summary").textContent = ""; failed(error); }
}

async function trashChecked() {
  const ids = [...document.querySelectorAll("#dup-groups .dup-pick:checked")].map((box) => box.value);
  if (!ids.length) { say("Check the copies to move to the trash first."); return; }
  if (!confirm(`Move ${ids.length} file${ids.length === 1 ? "" : "s"} to the system trash? Undo puts them back.`)) return;
  try {
    const answer = await api("/duplicates/trash", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ids: ids.map(String) }),
    });
    const skipped = answer.skipped.length ? `; ${answer.skipped.length} not moved (${answer.skipped[0].reason})` : "";
    say(`Moved ${answer.trashed.length} file${answer.trashed.length === 1 ? "" : "s"} to the trash${skipped}.`, Boolean(answer.error));
    $("dup-undo").disabled = answer.trashed.length === 0;
    loadDuplicates();
    loadStatus();
  } catch (error) { failed(error); }
}

async function undoTrash() {
  try {
    const answer = await api("/duplicates/undo", { method: "POST" });
    $("dup-undo").disabled = true;
    const putBack = `Put back ${answer.restored.length} file${answer.restored.length === 1 ? "" : "s"}` +
      (answer.not_restored.length ? `; ${answer.not_restored.length} are only in the system's trash.` : "; they are indexed again.");
    say(putBack);
    if (answer.job) followJob(answer.job, () => loadDuplicates(), putBack);
  } catch (error) { failed(error); }
}

function showDuplicatesPage() {
  for (const id of ["query", "filters", "results-title", "results", "parts", "selection", "manage"]) $(id).hidden = true;
  $("duplicates").hidden = false;
  document.title = "Duplicates – Image Finder";
  $("dup-tier").addEventListener("change", () => loadDuplicates());
  $("dup-trash").addEventListener("click", trashChecked);
  $("dup-undo").addEventListener("click", undoTrash);
  $("dup-more").addEventListener("click", () => loadDuplicates(true));
  loadDuplicates();
}

// -- the query: drop, paste, pick ---------------------------------------------------------------

// a video dropped or picked is a clip to search with: the videos that hold it, from where to
// where, and the photos that are frames of it
const VIDEO_NAME = /\.(mp4|m4v|mov|mkv|webm|avi|3gp|mts|m2ts|ts|mpg|mpeg|wmv|flv|ogv)$/i;

function isVideo(file) {
  return (file.type || "").startsWith("video/") || VIDEO_NAME.test(file.name || "");
}

async function searchWithClip(file) {
  showQuery("clip");
  say(`Searching with the clip ${file.name}… (its pictures are read first)`);
  $("search-button").disabled = true;
  const body = new FormData();
  body.append("video", file, file.name || "clip");
  const started = performance.now();
  try {
    const found = await api("/search/clip", { method: "POST", body });
    const results = [
      ...found.videos.map((v) => ({ ...v, part: { kind: "time", seconds: v.from }, match: "clip" })),
      ...found.photos.map((p) => ({ ...p, match: "frame" })),
    ];
    const held = found.videos.length;
    const outcome = {
      query: found.query, results, close_matches: results.length > 0, elapsed: performance.now() - started,
      notice: held ? `${held === 1 ? "1 video holds" : `${held} videos hold`} the clip; the score is the share of it matched.`
        : "No video of the library holds this clip.",
    };
    current = { kind: "clip", value: null, unlike: [], filters: {} };
    history.pushState({ query: current, key: "", outcome }, "", "/?clip=" + encodeURIComponent(file.name || "clip"));
    render(outcome);
  } catch (error) {
    $("results-title").hidden = true;
    $("results").replaceChildren();
    failed(error);
  } finally {
    $("search-button").disabled = false;
  }
}

function useFile(file) {
  if (!file) return;
  if (isVideo(file)) { searchWithClip(file); return; }
  if (file.type && !file.type.startsWith("image/")) { say(`${file.name} is not a photo or a video.`, true); return; }
  const preview = $("query-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.alt = `The photo searched with: ${file.name || "pasted image"}`;
  preview.hidden = false;
  runSearch("upload", { file });
}

function restore(state) {
  if (!state) {
    const query = queryFromUrl();
    if (!query) return;
    showFilters(query.filters);
    if (query.kind === "upload") { say("Drop the photo again to repeat this search."); return; }
    if (query.kind === "clip") { say("Drop the clip again to repeat this search."); return; }
    if (query.kind === "text") $("words").value = query.value;
    runSearch(query.kind, query.value, { push: false, unlike: query.unlike, filters: query.filters });
    return;
  }
  const query = { ...state.query };
  if (query.kind === "upload") query.value = uploads.get(state.key) || null;
  if (query.kind === "text") $("words").value = query.value;
  showFilters(query.filters);
  current = query.value ? query : null;
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
    if (shownResult) runSearch("item", String(shownResult.id));
  });
  $("folder-form").addEventListener("submit", addFolder);
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.href = "/?token=" + encodeURIComponent($("token").value.trim());
  });
  window.addEventListener("popstate", (event) => restore(event.state));
  $("filters-form").addEventListener("change", () => {
    if (current) runSearch(current.kind, current.value, { unlike: current.unlike });
  });
  $("filters-form").addEventListener("reset", () => setTimeout(() => {
    if (current) runSearch(current.kind, current.value, { unlike: current.unlike });
  }));
}

wire();
loadStatus().then((ok) => {
  if (!ok) return;
  if (onDuplicatesPage()) {
    if (canManage) showDuplicatesPage();
    else say("The duplicates review needs a manage token.", true);
  } else if (onMatchesPage()) {
    if (canMatch) showMatchesPage();
    else say("Reviewing matches needs a match or manage token.", true);
  } else restore(history.state);
});
