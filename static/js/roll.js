// Problem records: select all per kind, reveal one ID number (audited on the server),
// and refresh the list when the roll system sends new records for this school.
"use strict";
(function () {
  const box = document.getElementById("roll-records");
  if (!box) return;

  function csrf() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function wire(root) {
    root.querySelectorAll("input.select-all").forEach((all) => {
      all.addEventListener("change", () => {
        const table = all.closest("table");
        table.querySelectorAll("input[name=record]").forEach((cb) => { cb.checked = all.checked; });
      });
    });
    root.querySelectorAll("button.reveal").forEach((button) => {
      button.addEventListener("click", () => {
        fetch(button.dataset.url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf(), Accept: "application/json" } })
          .then((r) => (r.ok ? r.json() : null))
          .then((data) => {
            if (!data) return;
            const span = button.parentElement.querySelector(".masked");
            if (span) span.textContent = data.id_number;
            button.remove();
          })
          .catch(() => {});
      });
    });
  }

  function refresh() {
    fetch(box.dataset.partialUrl, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => {
        if (html === null) return;
        const doc = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html");
        box.replaceChildren(...doc.body.firstChild.childNodes);
        wire(box);
      })
      .catch(() => {});
  }

  wire(box);
  document.addEventListener("platform:event", (event) => {
    const frame = event.detail || {};
    if (frame.type === "roll.alerts" && frame.schools && frame.schools[box.dataset.school]) refresh();
  });
})();
