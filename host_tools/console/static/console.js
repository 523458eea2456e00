// The console's behaviour in the browser: live alarms (Server-Sent Events) with sound,
// acknowledging without reload, the dashboard's refresh, the trip/close confirmation dialog
// and following a command until the relay confirms. Plain JavaScript, no library.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// --- sound ---------------------------------------------------------------------------------
// Browsers refuse audio until the user has interacted with the page. The page finds out with a
// silent probe; while sound is blocked a banner says so and offers "Enable sound" (a click is
// the interaction the browser wants). The choice is remembered, so the question is asked once;
// after a reload a blocked browser shows the banner again until any click on the page.
const sound = {
  unlocked: false,
  criticalActive: 0,
  element(severity) { return document.getElementById("sound-" + severity); },
  banner(text) {
    const banner = document.getElementById("sound-banner");
    if (!banner) return;
    if (text) document.getElementById("sound-banner-text").textContent = text;
    banner.hidden = false;
  },
  hideBanner() { const b = document.getElementById("sound-banner"); if (b) b.hidden = true; },
  async probe() {
    const audio = this.element("info");
    if (!audio) return;
    audio.volume = 0;
    try {
      await audio.play();
      audio.pause();
      audio.currentTime = 0;
      this.unlocked = true;
      this.hideBanner();
    } catch (error) {
      this.unlocked = false;
      this.banner(localStorage.getItem("conc.sound") === "on"
        ? "Alarm sound is blocked by the browser: click Enable sound (or anywhere on the page)."
        : "Alarm sound is off: the browser blocks sound until you allow it.");
    } finally {
      audio.volume = 1;
    }
  },
  async enable() {
    localStorage.setItem("conc.sound", "on");
    const audio = this.element("info");
    try {
      audio.currentTime = 0;
      await audio.play();
      this.unlocked = true;
      this.hideBanner();
    } catch (error) {
      this.banner("The browser still blocks sound: allow sound for this site in its settings.");
    }
  },
  async play(severity) {
    const audio = this.element(severity);
    if (!audio) return;
    try {
      audio.currentTime = 0;
      await audio.play();
      audio.dataset.plays = String(Number(audio.dataset.plays || 0) + 1);
      this.unlocked = true;
      this.hideBanner();
    } catch (error) {
      this.unlocked = false;
      document.body.dataset.soundBlocked = String(Number(document.body.dataset.soundBlocked || 0) + 1);
      this.banner("A " + severity + " alarm came in but the browser blocks its sound: click Enable sound.");
    }
  },
};

// --- live alarms ---------------------------------------------------------------------------
function setBadge(summary) {
  const badge = document.getElementById("alarm-badge");
  let active = 0;
  for (const severity in summary) active += summary[severity][0];
  sound.criticalActive = summary.critical ? summary.critical[0] : 0;
  if (badge) {
    badge.textContent = String(active);
    badge.hidden = active === 0;
    badge.className = "badge" + (sound.criticalActive ? " critical" : "");
  }
}

function alarmTableWants(alarm) {
  const params = new URLSearchParams(location.search);
  const states = (params.get("state") || "active,acknowledged").split(",");
  const severity = params.get("severity");
  return (states.includes("all") || states.includes(alarm.state)) &&
    (!severity || severity === alarm.severity);
}

async function reloadAlarmRows() {
  const rows = document.getElementById("alarm-rows");
  if (!rows) return;
  const params = new URLSearchParams(location.search);
  params.set("partial", "rows");
  const response = await fetch("/alarms?" + params.toString(), {credentials: "same-origin"});
  if (response.ok) {
    rows.innerHTML = await response.text();
    document.getElementById("no-alarms").hidden = rows.children.length > 0;
  }
}

function startAlarmStream() {
  const table = document.getElementById("alarm-table");
  const after = table ? table.dataset.latest : "";
  const stream = new EventSource("/api/alarms/stream" + (after ? "?after=" + after : ""));
  const live = document.getElementById("live-state");
  stream.onopen = () => { if (live) live.textContent = "live"; };
  stream.onerror = () => { if (live) live.textContent = "reconnecting…"; };
  stream.addEventListener("summary", (event) => setBadge(JSON.parse(event.data)));
  stream.addEventListener("alarm", (event) => {
    const alarm = JSON.parse(event.data);
    const rows = document.getElementById("alarm-rows");
    if (rows && !document.getElementById("alarm-" + alarm.id) && alarmTableWants(alarm)) {
      rows.insertAdjacentHTML("afterbegin", alarm.html);
      rows.firstElementChild.classList.add("new");
      document.getElementById("no-alarms").hidden = true;
    }
    sound.play(alarm.severity);
  });
  stream.addEventListener("changed", () => reloadAlarmRows());
}

// Critical alarms repeat their sound until acknowledged.
setInterval(() => { if (sound.unlocked && sound.criticalActive > 0) sound.play("critical"); }, 4000);

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.classList.contains("ack-form")) return;
  event.preventDefault();
  const row = form.closest("tr");
  try {
    const alarm = await postJSON(form.action, {note: form.note.value});
    row.outerHTML = alarm.html;
  } catch (error) {
    let message = row.querySelector(".error");
    if (!message) {
      message = document.createElement("div");
      message.className = "error";
      form.after(message);
    }
    message.textContent = error.message;
  }
});

// --- dashboard -----------------------------------------------------------------------------
const formats = {
  percent: (v) => v === null ? "-" : (v * 100).toFixed(1) + " %",
  money: (v) => (v < 0 ? "-" : "") + Math.floor(Math.abs(v) / 100).toLocaleString("en") + "." +
    String(Math.abs(v) % 100).padStart(2, "0") + " yuan",
  kwh: (v) => v === null ? "-" : Math.round(v).toLocaleString("en") + " kWh",
};

async function refreshDashboard(section) {
  const response = await fetch(section.dataset.refresh, {credentials: "same-origin"});
  if (!response.ok) return;
  const data = await response.json();
  for (const element of section.querySelectorAll("[data-field]")) {
    let value = data;
    for (const key of element.dataset.field.split(".")) value = value == null ? null : value[key];
    const format = formats[element.dataset.format];
    element.textContent = format ? format(value) : String(value);
  }
}

// --- remote control ------------------------------------------------------------------------
function confirmRelay(event) {
  const form = event.target;
  if (!form.hasAttribute("data-confirm") || form.confirm.value === "yes") return;
  event.preventDefault();
  const kind = event.submitter ? event.submitter.value : "trip";
  const reason = form.reason || form.note;
  if (!reason.value.trim()) { reason.reportValidity(); return; }
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent =
    (kind === "trip" ? "Disconnect" : "Reconnect") + " this meter (" + kind + ")? Reason: " +
    reason.value.trim();
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    form.confirm.value = "yes";
    const chosen = document.createElement("input");
    chosen.type = "hidden"; chosen.name = "kind"; chosen.value = kind;
    form.appendChild(chosen);
    form.submit();
  };
  dialog.showModal();
}
document.addEventListener("submit", confirmRelay);

async function followCommand(state) {
  const id = state.dataset.command;
  while (state.dataset.final !== "yes") {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const response = await fetch("/api/commands/" + id, {credentials: "same-origin"});
    if (!response.ok) continue;
    const command = await response.json();
    state.textContent = command.state;
    state.className = "state-" + command.state;
    state.dataset.final = command.final ? "yes" : "no";
    const steps = document.getElementById("command-steps");
    steps.replaceChildren(...command.steps.map((step) => {
      const row = document.createElement("tr");
      for (const text of [new Date(step.at * 1000).toLocaleString("sv"), step.step,
                          step.outcome, step.detail]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      return row;
    }));
  }
  const following = document.getElementById("command-following");
  if (following) following.remove();
}

document.addEventListener("DOMContentLoaded", () => {
  const enable = document.getElementById("enable-sound");
  if (enable) {
    enable.addEventListener("click", () => sound.enable());
    document.addEventListener("click", () => { if (!sound.unlocked && localStorage.getItem("conc.sound") === "on") sound.enable(); });
    sound.probe();
    startAlarmStream();
  }
  const dashboard = document.querySelector("[data-refresh]");
  if (dashboard) setInterval(() => refreshDashboard(dashboard), 10000);
  const command = document.getElementById("command-state");
  if (command) followCommand(command);
});
