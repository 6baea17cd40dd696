// Behaviour for every page, attached here because templates carry no inline script.
"use strict";
// Loaded without defer: with this class the phone's menu folds behind its button
// (without script it stays unfolded and usable).
document.documentElement.classList.add("js");

// Each cell of a .grid table carries its column's heading as data-label, shown beside
// the value when the table is stacked as cards on a phone (static/css/app.css). Done
// here, not in the ~18 table templates, so rows added live (inbox, queues) get it too.
function labelCells(table) {
  const heads = [];
  for (const th of table.querySelectorAll(":scope > thead > tr:last-child > th")) {
    const text = th.textContent.replace(/\s+/g, " ").trim();
    for (let i = 0; i < (th.colSpan || 1); i++) heads.push(text);
  }
  if (!heads.length) return;
  for (const row of table.querySelectorAll(":scope > tbody > tr")) {
    let col = 0;
    for (const cell of row.cells) {
      if (cell.tagName === "TD" && !cell.hasAttribute("data-label")) cell.dataset.label = heads[col] || "";
      col += cell.colSpan || 1;
    }
  }
}

function menuToggle(button) {
  const header = button.closest(".topbar");
  const set = (open) => {
    header.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => set(!header.classList.contains("open")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && header.classList.contains("open")) {
      set(false);
      button.focus();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll(".menu-toggle")) menuToggle(button);
  const labelAll = () => document.querySelectorAll("table.grid").forEach(labelCells);
  labelAll();
  // Rows and whole tables put in place later by the live scripts: labelled once per frame.
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      labelAll();
    });
  }).observe(document.body, { childList: true, subtree: true });
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});

// issue 15: file pickers (core/templates/core/widgets/file_picker.html, the ticket reply
// and chat forms): the chosen files' names beside the Chinese button. Delegated, so the
// pickers that the live scripts put in place later work too.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.classList.contains("file-input")) return;
  const names = input.parentElement && input.parentElement.querySelector(".file-names");
  if (!names) return;
  const chosen = Array.from(input.files || [], (file) => file.name);
  names.textContent = chosen.length ? chosen.join("、") : names.dataset.empty || "";
});
