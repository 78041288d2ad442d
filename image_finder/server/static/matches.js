// The matches found in watched hash banks, to review (a match or manage token): newest first,
// new ones as they are recorded (server-sent events), each confirmed or dismissed; the
// decision is kept with the token that made it. Uses app.js's helpers ($, api, failed, clock).
"use strict";

const onMatchesPage = () => location.pathname === "/matches";
const MATCHES_PER_PAGE = 50;
let matchesShown = new Map(); // match id -> its list item
let matchOffset = 0;

function closenessOf(match) {
  if (match.signal === "pdq") return `PDQ ${match.distance} bits (≤ ${match.threshold})`;
  if (match.signal === "vpdq") return `vPDQ ${Math.round(match.percent)}% of frames (≥ ${Math.round(match.threshold)}%)`;
  return `features ${match.score.toFixed(3)} (≥ ${match.threshold.toFixed(2)})`;
}

function partOf(match) {
  const part = match.part;
  if (!part) return "";
  if (part.kind === "time") return ` at ${clock(part.seconds)}`;
  return part.kind === "page" ? ` p. ${part.number}` : ` frame ${part.frame ?? part.number}`;
}

function decisionWords(match) {
  if (!match.decision) return "To review";
  const when = new Date(match.decided_at * 1000).toLocaleString();
  return `${match.decision === "confirmed" ? "Confirmed" : "Dismissed"} by ${match.decided_by} · ${when}`;
}

function matchItem(match) {
  const li = document.createElement("li");
  li.className = "match-item" + (match.decision ? ` ${match.decision}` : "");
  li.dataset.id = match.id;
  const filename = match.path.split(/[\\/]/).pop();
  if (match.image_id !== null) {
    const img = document.createElement("img");
    img.src = `${API}/items/${match.image_id}/thumbnail?size=360`;
    img.alt = filename;
    img.loading = "lazy";
    li.append(img);
  } else { // found by a Ray job's indexing into a catalogue: no item of this library to show
    const none = document.createElement("div");
    none.className = "no-preview muted";
    none.textContent = "No preview: indexed into a catalogue";
    li.append(none);
  }
  const facts = document.createElement("div");
  facts.className = "facts";
  const name = document.createElement("strong");
  name.textContent = filename + partOf(match);
  name.title = match.path;
  const bank = document.createElement("span");
  bank.className = "bank";
  bank.textContent = `${match.bank}${match.label ? ` “${match.label}”` : ""}`;
  const how = document.createElement("span");
  how.className = "muted";
  how.textContent = `${closenessOf(match)} · found ${new Date(match.found_at * 1000).toLocaleString()}`;
  const state = document.createElement("span");
  state.className = "decision";
  state.textContent = decisionWords(match);
  facts.append(name, bank, how, state);
  const actions = document.createElement("div");
  actions.className = "actions";
  for (const [decision, words] of [["confirmed", "Confirm"], ["dismissed", "Dismiss"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = words;
    button.className = decision === "dismissed" ? "secondary" : "";
    button.disabled = match.decision === decision;
    button.setAttribute("aria-label", `${words} the match of ${filename} in ${match.bank}`);
    button.addEventListener("click", () => decideMatch(match, decision));
    actions.append(button);
  }
  li.append(facts, actions);
  return li;
}

function summarizeMatches() {
  const items = [...matchesShown.values()];
  const open = items.filter((li) => !li.classList.contains("confirmed") && !li.classList.contains("dismissed")).length;
  $("match-summary").textContent = items.length === 0 ? "No matches yet: pictures indexed are checked against the watched banks."
    : `${items.length.toLocaleString()} match${items.length === 1 ? "" : "es"} shown, ${open.toLocaleString()} to review. The pictures are never moved or changed.`;
}

function showMatch(match, { first = false } = {}) {
  const li = matchItem(match);
  const old = matchesShown.get(match.id);
  if (old) old.replaceWith(li);
  else if (first) $("match-list").prepend(li);
  else $("match-list").append(li);
  matchesShown.set(match.id, li);
  summarizeMatches();
}

async function decideMatch(match, decision) {
  try {
    const decided = await api(`/matches/${match.id}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ decision }),
    });
    showMatch(decided);
    say(`${decided.decision === "confirmed" ? "Confirmed" : "Dismissed"}: ${decided.path.split(/[\\/]/).pop()} in ${decided.bank}.`);
  } catch (error) { failed(error); }
}

async function loadMatches(more = false) {
  if (!more) { matchOffset = 0; matchesShown = new Map(); $("match-list").replaceChildren(); }
  try {
    const found = await api(`/matches?offset=${matchOffset}&limit=${MATCHES_PER_PAGE}`);
    found.matches.forEach((match) => showMatch(match));
    matchOffset += found.matches.length;
    $("match-more").hidden = found.matches.length < MATCHES_PER_PAGE;
    summarizeMatches();
  } catch (error) { failed(error); }
}

function followMatches() {
  const events = new EventSource(`${API}/matches/events`);
  events.addEventListener("match", (event) => {
    const match = JSON.parse(event.data);
    showMatch(match, { first: true });
    say(`New match: ${match.path.split(/[\\/]/).pop()} in ${match.bank}.`);
  });
}

function showMatchesPage() {
  for (const id of ["query", "filters", "results-title", "results", "parts", "selection", "manage"]) $(id).hidden = true;
  $("matches").hidden = false;
  document.title = "Matches – Image Finder";
  $("match-more").addEventListener("click", () => loadMatches(true));
  loadMatches().then(followMatches);
}
