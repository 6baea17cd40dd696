// Live ticket pages: a `ticket.changed` event re-fetches what this viewer may see
// (the server renders it, so internal notes never travel to a reporter's page),
// and the engineer's queue badge follows assignments.
"use strict";
(function () {
  const live = document.getElementById("ticket-live");
  const list = document.getElementById("ticket-list");
  const badge = document.getElementById("queue-badge");
  let pending = null;

  function later(fn) {
    // Several events in a burst (reply + status) cost one fetch.
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => { pending = null; fn(); }, 150);
  }

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then((r) => (r.ok ? r.text() : null));
  }

  function refreshDetail() {
    const active = document.activeElement;
    // Never wipe what the person is typing: refresh the timeline only.
    const typing = active && live.contains(active) && (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value;
    fetchHtml(live.dataset.partialUrl).then((html) => {
      if (html === null) return;
      const doc = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html");
      if (typing) {
        const fresh = doc.getElementById("ticket-timeline");
        const old = document.getElementById("ticket-timeline");
        if (fresh && old) old.replaceWith(fresh);
        return;
      }
      live.replaceChildren(...doc.body.firstChild.childNodes);
    }).catch(() => {});
  }

  function refreshList() {
    const url = new URL(location.href);
    url.searchParams.set("partial", "1");
    fetchHtml(url.toString()).then((html) => {
      if (html === null) return;
      const doc = new DOMParser().parseFromString(`<table>${html}</table>`, "text/html");
      const fresh = doc.getElementById("ticket-rows");
      const old = document.getElementById("ticket-rows");
      if (fresh && old) old.replaceWith(fresh);
    }).catch(() => {});
  }

  function bump(by) {
    if (!badge) return;
    const value = Math.max(0, Number(badge.textContent || 0) + by);
    badge.textContent = String(value);
    badge.classList.toggle("zero", value === 0);
  }

  document.addEventListener("platform:event", (event) => {
    const frame = event.detail || {};
    if (frame.type === "ticket.assigned") bump(1);
    if (frame.type !== "ticket.changed" && frame.type !== "ticket.assigned") return;
    if (live && Number(live.dataset.ticketId) === Number(frame.ticket)) later(refreshDetail);
    if (list && list.dataset.liveList !== "all") later(refreshList);
  });
})();
