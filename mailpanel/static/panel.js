// MailPanel Pro: the little behaviour the pages need. No inline scripts (CSP).
"use strict";

function followJob(section) {
  const log = section.querySelector("[data-job-log]");
  const stateEl = section.querySelector("[data-job-state]");
  const statusEl = section.querySelector("[data-job-status]");
  const progressEl = section.querySelector("[data-job-progress]");
  const errorEl = section.querySelector("[data-job-error]");
  const cancelForm = section.querySelector("[data-job-cancel]");
  const after = section.dataset.lastSeq || "0";
  const source = new EventSource(section.dataset.jobEvents + "?after=" + encodeURIComponent(after));

  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    if (log.querySelector('[data-seq="' + line.seq + '"]')) return;
    const item = document.createElement("li");
    item.className = "lvl-" + line.level;
    item.dataset.seq = line.seq;
    const time = document.createElement("time");
    time.textContent = new Date(line.at).toLocaleTimeString([], { hour12: false });
    item.append(time, " " + line.text);
    log.append(item);
    item.scrollIntoView({ block: "nearest" });
  });
  source.addEventListener("state", (event) => {
    const state = JSON.parse(event.data);
    stateEl.textContent = state.label;
    stateEl.className = "state state-" + state.state;
    statusEl.textContent = state.status;
    progressEl.value = state.progress;
    progressEl.textContent = state.progress + "%";
    if (state.error) {
      errorEl.textContent = state.error;
      errorEl.hidden = false;
    }
  });
  source.addEventListener("end", () => {
    source.close();
    if (cancelForm) cancelForm.remove();
    section.dataset.finished = "true";
  });
}

function confirmDangerous(event) {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}

function setupCopy(button) {
  // A button with data-copy="#id" copies that element's text (a secret shown once).
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  });
}

function setupMenu() {
  document.documentElement.classList.add("js");
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("main-nav");
  if (!toggle || !nav) return;
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupMenu();
  document.querySelectorAll("[data-job-events]").forEach(followJob);
  document.querySelectorAll("button[data-copy]").forEach(setupCopy);
  document.addEventListener("submit", confirmDangerous);
});
