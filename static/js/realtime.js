// The one WebSocket per tab: resumes from the last event id it saw, reconnects with
// jittered backoff, and turns events into toasts, the unread badge and live rows.
// Protocol: docs/websocket.md.
"use strict";
(function () {
  const body = document.body;
  if (!body || body.dataset.live !== "1") return;

  const KEY = "xj.lastEventId";
  const accountId = Number(body.dataset.accountId);
  // Events up to the page's own id are already on the page: never toast them again.
  const floor = Number(body.dataset.lastEventId || 0);
  let last = Math.max(floor, Number(sessionStorage.getItem(KEY) || 0));
  const seen = new Set();
  const toasts = document.getElementById("toasts");
  const t = (name) => (toasts && toasts.dataset["t" + name]) || name;
  let attempt = 0;
  let socket = null;
  let offlineToast = null;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/?last_event_id=${last}`);
    socket.addEventListener("open", () => {
      attempt = 0;
      if (offlineToast) { offlineToast.remove(); offlineToast = null; }
      document.dispatchEvent(new CustomEvent("platform:open"));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      handle(frame);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) { location.assign("/auth/login/?next=" + encodeURIComponent(location.pathname)); return; }
      if (event.code === 4403) { location.assign("/password/first/"); return; }
      // 4429: the account has too many tabs open; retry slowly until one closes.
      if (event.code === 4429) attempt = Math.max(attempt, 5);
      if (!offlineToast && attempt > 0) offlineToast = toast(t("Offline"), "", null, true);
      // Jittered exponential backoff, 1 s up to 5 min, so a restart is not a stampede.
      const delay = Math.min(300000, 1000 * 2 ** attempt) * (0.5 + Math.random());
      attempt += 1;
      setTimeout(connect, delay);
    });
  }

  function handle(frame) {
    if (typeof frame.id === "number") {
      if (frame.id <= floor || seen.has(frame.id)) return;
      seen.add(frame.id);
      if (seen.size > 5000) seen.delete(seen.values().next().value);
      if (frame.id > last) { last = frame.id; sessionStorage.setItem(KEY, String(last)); }
    }
    switch (frame.type) {
      case "notice.published": onNotice(frame); break;
      case "notice.reminder": onReminder(frame); break;
      case "notice.acknowledged": onAcknowledged(frame); break;
      case "notice.withdrawn": onWithdrawn(frame); break;
      case "notice.corrected": onCorrected(frame); break;
      case "chat.mention": toast(`@ ${frame.by || ""}`, frame.room ? frame.room.name : "", frame.room ? `/chat/${Number(frame.room.id)}/` : null, false); break;
      case "ticket.assigned": toast(`${t("Assigned")}: #${Number(frame.ticket)} ${frame.title || ""}`, "", `/tickets/${Number(frame.ticket)}/`, frame.priority === "urgent" || frame.priority === "high"); break;
      case "ticket.warning": toast(`${t("Warning")}: #${Number(frame.ticket)} ${frame.title || ""}`, "", `/tickets/${Number(frame.ticket)}/`, true); break;
      case "ticket.alert": toast(`${t("Alert")}: #${Number(frame.ticket)} ${frame.title || ""}`, "", `/tickets/${Number(frame.ticket)}/`, true); break;
      case "roll.alerts": onRecords(frame); break;
      case "unit.change": onUnitChange(frame); break;
      // "lagged": only live chat frames were dropped (chat.js syncs its room); no event was.
      case "resync": if (frame.reason !== "lagged") { refreshBadge(); if (document.getElementById("inbox-rows")) location.reload(); } break;
      default: break;
    }
    document.dispatchEvent(new CustomEvent("platform:event", { detail: frame }));
  }

  function onNotice(frame) {
    const n = frame.notice;
    if (!n) return;
    const mine = n.author_id === accountId;
    if (!mine) bumpBadge(1);
    toast(mine ? n.title : `${t("New")}: ${n.title}`, n.author_unit, n.url, n.priority === "urgent");
    insertInboxRow(n);
  }

  function onRecords(frame) {
    const mine = frame.schools && frame.schools[body.dataset.unitCode];
    const n = mine || frame.total || 0;
    toast(t("RecordsN").replace("{n}", String(Number(n))), "", "/roll/", false);
    const badge = document.getElementById("roll-badge");
    if (badge && mine) {
      const value = Number(badge.textContent || 0) + Number(mine);
      badge.textContent = String(value);
      badge.classList.toggle("zero", value === 0);
    }
  }

  function onReminder(frame) {
    const n = frame.notice;
    if (n) toast(`${t("Reminder")}: ${n.title}`, frame.by || n.author_unit, n.url, true);
  }

  function onAcknowledged(frame) {
    toast(`${t("Ack")} ${frame.unit || ""}`, "", null, false);
    const stats = document.getElementById("stats-total");
    if (stats && frame.notice && String(frame.notice.id) === stats.dataset.noticeId) location.reload();
  }

  // Withdrawn (撤回) and corrected (更正): the badge is fetched again (the notice no
  // longer counts as unread), the inbox row is marked, an open notice gets its banner.
  function onWithdrawn(frame) {
    const n = frame.notice;
    if (!n) return;
    if (n.author_id !== accountId) toast(`${t("Withdrawn")}: ${n.title}`, frame.reason || "", n.url, false);
    refreshBadge();
    markInboxRow(n.id, "withdrawn", t("Withdrawn"));
    const article = openNotice(n.id);
    if (!article || document.getElementById("withdrawn-banner")) return;
    const box = document.createElement("div");
    box.className = "notice withdrawn";
    box.id = "withdrawn-banner";
    box.setAttribute("role", "status");
    const strong = document.createElement("strong");
    strong.textContent = t("Withdrawn");
    box.append(strong, ` · ${frame.withdrawn_local || ""} · ${n.author_unit || ""}`);
    const why = document.createElement("p");
    why.textContent = `${t("Reason")} ${frame.reason || ""}`;
    box.appendChild(why);
    article.prepend(box);
    article.dataset.withdrawn = "1";
    stopActions("withdrawn");
  }

  function onCorrected(frame) {
    const n = frame.notice;
    const old = frame.corrects;
    if (!n || !old) return;
    if (n.author_id !== accountId) toast(`${t("Corrected")}: ${n.title}`, n.author_unit, n.url, n.priority === "urgent");
    refreshBadge();
    markInboxRow(old.id, "superseded", t("Corrected"));
    insertInboxRow(n);
    const article = openNotice(old.id);
    if (!article || document.getElementById("superseded-banner")) return;
    const box = document.createElement("div");
    box.className = "notice superseded";
    box.id = "superseded-banner";
    box.setAttribute("role", "status");
    const strong = document.createElement("strong");
    strong.textContent = t("Corrected");
    const link = document.createElement("a");
    link.href = n.url;
    link.textContent = t("ReadVersion").replace("{n}", String(Number(n.version)));
    box.append(strong, ": ", link);
    article.prepend(box);
    stopActions("superseded");
  }

  function openNotice(id) {
    return document.querySelector(`article.notice[data-notice-id="${Number(id)}"]`);
  }

  // The notice on the page no longer takes acknowledgements, corrections or withdrawals;
  // `why` ("withdrawn" / "superseded") picks the #ack section's words for the form's place.
  function stopActions(why) {
    const form = document.getElementById("ack-form");
    const section = document.getElementById("ack");
    if (form) {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.id = "ack-closed";
      hint.textContent = (section && section.dataset[why]) || "";
      form.replaceWith(hint);
    }
    for (const sel of ["#withdraw-link", "#correct-link"]) {
      const el = document.querySelector(sel);
      if (el) el.remove();
    }
  }

  function markInboxRow(id, cls, label) {
    const rows = document.getElementById("inbox-rows");
    const row = rows && rows.querySelector(`tr[data-notice-id="${Number(id)}"]`);
    if (!row) return;
    row.classList.remove("unread", "fresh");
    row.classList.add(cls);
    const cell = row.querySelector("td.state") || row.cells[row.cells.length - 1];
    if (!cell) return;
    const badge = document.createElement("span");
    badge.className = cls === "withdrawn" ? "badge withdrawn" : "badge";
    badge.textContent = label;
    cell.replaceChildren(badge);
  }

  function bumpBadge(by) {
    const badge = document.getElementById("unread-badge");
    if (!badge) return;
    const value = Math.max(0, Number(badge.textContent || 0) + by);
    badge.textContent = String(value);
    badge.classList.toggle("zero", value === 0);
  }

  function refreshBadge() {
    fetch("/notices/unread.json", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => { if (data) { const b = document.getElementById("unread-badge"); if (b) { b.textContent = String(data.unread); b.classList.toggle("zero", data.unread === 0); } } })
      .catch(() => {});
  }

  function insertInboxRow(n) {
    const rows = document.getElementById("inbox-rows");
    if (!rows || rows.dataset.liveInsert !== "1" || n.author_id === accountId) return;
    if (rows.querySelector(`tr[data-notice-id="${Number(n.id)}"]`)) return;
    const empty = rows.querySelector("tr.empty-row");
    if (empty) empty.remove();
    const tr = document.createElement("tr");
    tr.className = "unread fresh";
    tr.dataset.noticeId = String(n.id);
    const title = document.createElement("td");
    const link = document.createElement("a");
    link.href = n.url;
    link.textContent = n.title;
    title.appendChild(link);
    if (n.priority === "urgent") {
      const badge = document.createElement("span");
      badge.className = "badge urgent";
      badge.textContent = t("Urgent");
      title.append(" ", badge);
    }
    const from = document.createElement("td");
    from.textContent = n.author_unit;
    const when = document.createElement("td");
    when.textContent = n.published_local || "";
    const status = document.createElement("td");
    status.textContent = t("Unread");
    tr.append(title, from, when, status);
    rows.prepend(tr);
  }

  // School changes (issue 15, item 6): a proposal to decide, or the county's outcome.
  function onUnitChange(frame) {
    const title = { proposed: "UnitProposed", approved: "UnitApproved", refused: "UnitRefused" }[frame.what];
    if (!title) return;
    const count = Number(frame.count) || 1;
    const detail = `${frame.county || ""} · ${count > 1 ? count : frame.name || ""}`;
    toast(t(title), detail, "/school-changes/", false);
  }

  function toast(title, detail, url, sticky) {
    if (!toasts) return null;
    const box = document.createElement("div");
    box.className = sticky ? "toast urgent" : "toast";
    box.setAttribute("role", "status");
    const strong = document.createElement("strong");
    strong.textContent = title;
    box.appendChild(strong);
    if (detail) { const p = document.createElement("div"); p.textContent = detail; box.appendChild(p); }
    if (url) { const a = document.createElement("a"); a.href = url; a.textContent = t("Open"); box.appendChild(a); }
    const close = document.createElement("button");
    close.type = "button"; close.className = "link close"; close.textContent = "×";
    close.addEventListener("click", () => box.remove());
    box.appendChild(close);
    toasts.appendChild(box);
    if (!sticky) setTimeout(() => box.remove(), 8000);
    return box;
  }

  // Keep idle links alive through NATs that cut them at 60 s.
  setInterval(() => { if (socket && socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}'); }, 25000);
  // Ask for events the socket may have missed without closing (a channel-layer loss):
  // every 60 s and when the tab becomes visible, at most every 15 s (the server answers
  // one per 10 s); missed events come as ordinary frames, then `events.synced`.
  let lastSync = 0;
  function syncEvents() {
    if (!socket || socket.readyState !== WebSocket.OPEN || Date.now() - lastSync < 15000) return;
    lastSync = Date.now();
    socket.send(JSON.stringify({ type: "events.sync", after: last }));
  }
  setInterval(syncEvents, 60000);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") syncEvents(); });
  window.platformSocket = {
    get lastEventId() { return last; },
    // Send a frame; false when the socket is not open (the caller keeps it and retries).
    send(frame) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(frame));
      return true;
    },
    get open() { return !!socket && socket.readyState === WebSocket.OPEN; },
  };
  connect();
})();
