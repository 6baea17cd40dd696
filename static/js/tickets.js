// Live ticket pages: a `ticket.changed` event re-fetches what this viewer may see
// (the server renders it, so internal notes never travel to a reporter's page),
// and the engineer's queue badge follows what reaches or leaves their queue.
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

  let countTimer = null;
  function refreshBadge() {
    // The server counts: a ticket that leaves (escalated, resolved, handed over)
    // lowers the figure as surely as an arrival raises it.
    if (!badge) return;
    if (countTimer) clearTimeout(countTimer);
    countTimer = setTimeout(() => {
      countTimer = null;
      fetch(badge.dataset.countUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null))
        .then((data) => {
          if (!data) return;
          badge.textContent = String(data.count);
          badge.classList.toggle("zero", data.count === 0);
        })
        .catch(() => {});
    }, 200);
  }

  document.addEventListener("platform:event", (event) => {
    const frame = event.detail || {};
    if (frame.type !== "ticket.changed" && frame.type !== "ticket.assigned") return;
    refreshBadge();
    if (live && Number(live.dataset.ticketId) === Number(frame.ticket)) later(refreshDetail);
    if (list && list.dataset.liveList !== "all") later(refreshList);
  });
})();
