// Behaviour for every page, attached here because templates carry no inline script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
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
