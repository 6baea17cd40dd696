// The chat page on top of the one socket (realtime.js): live messages by sequence
// number, sync after every (re)connect, infinite scroll back, read position,
// presence heartbeats, the member list, and posts kept until the server acknowledges them.
"use strict";
(function () {
  const chat = document.getElementById("chat");
  const badge = document.getElementById("chat-badge");

  function bump(el, by) {
    if (!el) return;
    const value = Math.max(0, Number(el.textContent || 0) + by);
    el.textContent = String(value);
    el.classList.toggle("zero", value === 0);
  }

  // Presence on every page: a heartbeat while the tab is visible, "away" when hidden.
  // Leaving or reloading a page also hides it: that is not "away".
  let leaving = false;
  window.addEventListener("pagehide", () => { leaving = true; });
  function beat() {
    if (!window.platformSocket || (document.hidden && leaving)) return;
    window.platformSocket.send({ type: "presence", state: document.hidden ? "away" : "online" });
  }
  document.addEventListener("platform:open", beat);
  document.addEventListener("visibilitychange", beat);
  setInterval(beat, 30000);

  // Posts kept until their chat.sent arrives: in this tab's sessionStorage (a reload or
  // another page of the tab keeps them) and, on the room's page, in the list as
  // "sending…". Each carries a client_id the server stores once per author, so after
  // every (re)connect every unacknowledged post is simply sent again: a post stored
  // whose ack was lost is answered with the same seq, never stored twice.
  const PENDING = "xj.chatPending";
  let pending = [];
  try { pending = JSON.parse(sessionStorage.getItem(PENDING) || "[]").filter((p) => p && typeof p.id === "string"); } catch (_) { pending = []; }
  function savePending() {
    try { sessionStorage.setItem(PENDING, JSON.stringify(pending)); } catch (_) { /* full or disabled: the list still holds them */ }
  }
  function newClientId() {
    // getRandomValues works on plain http too (randomUUID needs a secure context).
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function transmit(post) {
    if (window.platformSocket) window.platformSocket.send({ type: "chat.send", room: post.room, body: post.body, client_id: post.id });
  }
  const pendingById = (id) => pending.find((p) => p.id === id);
  let pendingChanged = () => {}; // the room page redraws a post's line
  document.addEventListener("platform:open", () => {
    for (const post of pending) if (post.state === "sending") transmit(post);
  });
  document.addEventListener("platform:event", (event) => {
    const frame = event.detail;
    const post = typeof frame.client_id === "string" ? pendingById(frame.client_id) : null;
    if (!post) return;
    if (frame.type === "chat.sent") {
      pending = pending.filter((p) => p !== post);
      post.state = "sent";
      post.seq = frame.seq;
    } else if (frame.type === "error" && (frame.code === "rate_limited" || frame.code === "busy")) {
      // The server refused for now (too fast, or too busy): the same id again later.
      setTimeout(() => { if (pendingById(post.id)) transmit(post); }, 1000 * Number(frame.retry_after || 1));
    } else if (frame.type === "error") {
      post.state = "refused";
      post.reason = frame.detail || frame.code;
    } else return;
    savePending();
    pendingChanged(post);
  });

  const roomId = chat ? Number(chat.dataset.room) : null;
  const list = document.getElementById("messages");
  let lastSeq = chat ? Number(chat.dataset.lastSeq || 0) : 0;
  let firstSeq = chat ? Number(chat.dataset.firstSeq || 0) : 0;
  const t = (name) => (chat && chat.dataset["t" + name]) || name;

  document.addEventListener("platform:event", (event) => {
    const frame = event.detail;
    if (frame.type === "chat.message") {
      if (frame.room === roomId) { render(frame); markRead(); }
      else if (!frame.edited && !frame.deleted) {
        const item = document.querySelector(`#room-list li[data-room="${Number(frame.room)}"] [data-unread]`);
        bump(item, 1);
        bump(badge, 1);
      }
    } else if (frame.type === "chat.resync" && frame.room === roomId) {
      location.reload();
    } else if (frame.type === "error" && frame.code === "busy") {
      return; // retried above with the same client_id; nothing for the reader to do
    } else if (frame.type === "error" && frame.room === roomId) {
      showError(frame.code === "rate_limited" ? t("Retry").replace("{n}", frame.retry_after) : (frame.detail || frame.code));
    } else if (frame.type === "chat.room_added") {
      if (!chat) return;
      const rooms = document.getElementById("room-list");
      if (rooms && !rooms.querySelector(`li[data-room="${Number(frame.room.id)}"]`)) location.reload();
    }
  });

  if (!chat) return;

  // Every sequence number this page holds, and the highest one below which nothing is
  // missing: a sync asks from there, so a message that overtook another (two servers
  // push independently) or one lost while Redis restarted is fetched, never skipped.
  const held = new Set([...list.children].map((li) => Number(li.dataset.seq)));
  let contiguous = lastSeq;
  let syncTimer = null;
  function advance() { while (held.has(contiguous + 1)) contiguous += 1; }
  function sync() {
    clearTimeout(syncTimer);
    syncTimer = null;
    const rooms = {};
    rooms[String(roomId)] = contiguous;
    window.platformSocket.send({ type: "chat.sync", rooms });
  }
  function syncSoon() { if (!syncTimer) syncTimer = setTimeout(sync, 500); }
  // After every (re)connect, and once a minute in case a push was lost while the
  // socket stayed open (a Redis restart), ask for what this room got meanwhile.
  document.addEventListener("platform:open", sync);
  // The server dropped live frames this socket fell behind on: fetch them by sync.
  document.addEventListener("platform:event", (event) => {
    if (event.detail.type === "resync" && event.detail.reason === "lagged") sync();
  });
  setInterval(() => { if (window.platformSocket && window.platformSocket.open) sync(); }, 60000);

  function render(frame) {
    const existing = list.querySelector(`li[data-seq="${Number(frame.seq)}"]`);
    const item = existing || document.createElement("li");
    item.className = frame.deleted ? "message deleted" : "message";
    item.dataset.seq = String(frame.seq);
    item.replaceChildren();
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = frame.author_name;
    const meta = document.createElement("span");
    meta.className = "hint";
    meta.textContent = ` ${frame.unit} · ${frame.at}`;
    const text = document.createElement("div");
    text.className = "text";
    if (frame.deleted) {
      const em = document.createElement("em");
      em.textContent = t("Deleted");
      text.appendChild(em);
    } else {
      // Built by the server from escaped text (line breaks and @mentions only), cleaned with bleach.
      text.innerHTML = frame.html;
      if (frame.edited) { const e = document.createElement("span"); e.className = "hint"; e.textContent = ` (${t("Edited")})`; text.appendChild(e); }
    }
    item.append(who, meta, text);
    if (frame.files && frame.files.length) {
      const files = document.createElement("ul");
      files.className = "plain files";
      for (const f of frame.files) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = f.url;
        a.textContent = f.name;
        li.appendChild(a);
        files.appendChild(li);
      }
      item.appendChild(files);
    }
    if (!existing) {
      // Keep sequence order even if frames arrive out of order.
      // Own posts not yet in the room's order ("sending…") stay below every message.
      const after = [...list.children].find((li) => !li.dataset.seq || Number(li.dataset.seq) > frame.seq);
      list.insertBefore(item, after || null);
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 200;
      if (nearBottom || frame.seq > lastSeq) list.scrollTop = list.scrollHeight;
    }
    const posted = list.querySelector(`li.pending[data-acked-seq="${Number(frame.seq)}"]`);
    if (posted) posted.remove();
    if (frame.seq > lastSeq) lastSeq = frame.seq;
    if (!firstSeq || frame.seq < firstSeq) firstSeq = frame.seq;
    held.add(frame.seq);
    advance();
    if (lastSeq > contiguous) syncSoon();
  }

  let readTimer = null;
  function markRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (!document.hidden) window.platformSocket.send({ type: "chat.read", room: roomId, seq: lastSeq });
    }, 300);
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) markRead(); });

  function showError(text) {
    const box = document.getElementById("chat-error");
    if (!box) return;
    box.textContent = text;
    box.classList.remove("hidden");
    setTimeout(() => box.classList.add("hidden"), 6000);
  }

  // This room's own posts not yet acknowledged, as lines below the messages: "sending…",
  // or refused with the reason and a choice to send again or edit. Once acknowledged a
  // line waits for its chat.message (live or by sync), which takes its place.
  function button(label, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = label;
    b.addEventListener("click", action);
    return b;
  }
  function drawPending(post) {
    if (post.room !== roomId) return;
    let item = list.querySelector(`li.pending[data-client-id="${CSS.escape(post.id)}"]`);
    if (post.state === "sent") {
      if (!item) return;
      if (held.has(post.seq)) { item.remove(); return; }
      item.dataset.ackedSeq = String(post.seq);
      item.classList.remove("refused");
      const status = item.querySelector(".status");
      if (status) status.remove();
      return;
    }
    if (!item) {
      item = document.createElement("li");
      item.className = "pending";
      item.dataset.clientId = post.id;
      list.appendChild(item);
      list.scrollTop = list.scrollHeight;
    }
    item.classList.toggle("refused", post.state === "refused");
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = post.body;
    const status = document.createElement("div");
    if (post.state === "refused") {
      status.className = "status field-error";
      status.append(`${t("Unsent")}: ${post.reason || ""} `);
      status.append(button(t("Resend"), () => {
        post.state = "sending";
        delete post.reason;
        savePending();
        drawPending(post);
        transmit(post);
      }), " ", button(t("EditUnsent"), () => {
        // Back into the composer; sent again it is a new post with a new id.
        pending = pending.filter((p) => p !== post);
        savePending();
        item.remove();
        const box = composer && composer.querySelector("textarea");
        if (box) { box.value = post.body; box.focus(); }
      }));
    } else {
      status.className = "status hint";
      status.textContent = t("Sending");
    }
    item.replaceChildren(text, status);
  }
  pendingChanged = drawPending;

  const composer = document.getElementById("composer");
  pending.forEach(drawPending);
  if (composer) {
    const input = composer.querySelector("textarea");
    const picker = composer.querySelector('input[type="file"]');
    composer.addEventListener("submit", (event) => {
      const body = input.value.trim();
      // Files go up with the form (multipart; its hidden client_id makes a second
      // submit harmless); the socket carries text only.
      if (picker && picker.files.length) return;
      if (!body) { event.preventDefault(); return; }
      if (!window.platformSocket) return; // no socket on this page: the form posts
      event.preventDefault();
      // Kept as "sending…" until chat.sent: sent now if the socket is open, else as
      // soon as it opens again. The input is free for the next post.
      const post = { id: newClientId(), room: roomId, body, state: "sending" };
      pending.push(post);
      savePending();
      drawPending(post);
      transmit(post);
      input.value = "";
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); composer.requestSubmit(); }
    });
  }

  // Infinite scroll back through history.
  let loading = false;
  list.addEventListener("scroll", () => {
    if (list.scrollTop > 40 || loading || firstSeq <= 1) return;
    loading = true;
    fetch(`${chat.dataset.historyUrl}?before=${firstSeq}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : { messages: [] }))
      .then((data) => {
        const height = list.scrollHeight;
        data.messages.forEach(render);
        list.scrollTop = list.scrollHeight - height;
      })
      .finally(() => { loading = false; });
  });

  function loadMembers() {
    fetch(chat.dataset.membersUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        const ul = document.getElementById("member-list");
        if (!data || !ul) return;
        ul.replaceChildren(...data.members.map((m) => {
          const li = document.createElement("li");
          const dot = document.createElement("span");
          dot.className = `dot ${m.presence}`;
          dot.title = t(m.presence.charAt(0).toUpperCase() + m.presence.slice(1));
          li.append(dot, `${m.name} · ${m.unit}`);
          return li;
        }));
      })
      .catch(() => {});
  }
  list.scrollTop = list.scrollHeight;
  // The list once this tab's own heartbeat has gone out, so it shows itself online.
  document.addEventListener("platform:open", () => setTimeout(loadMembers, 300));
  loadMembers();
  setInterval(loadMembers, 30000);
})();
