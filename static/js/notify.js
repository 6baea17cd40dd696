// Notices that find the reader outside the page (issue 15): the unread count in the
// tab title, desktop notifications (the Notification API) while the tab is in the
// background, and an optional sound. Listens to realtime.js's `platform:event`; no
// Web Push (the platform runs on intranets). Settings are kept in this browser's
// localStorage, per account (`xj.notify.<account id>`), not on the server.
// Hand-written: no library covers "one tab of several notifies" on top of our socket.
"use strict";
(function () {
  const body = document.body;
  if (!body || body.dataset.live !== "1") return;

  const menu = document.getElementById("notify-settings");
  const toasts = document.getElementById("toasts");
  const t = (name) => (menu && menu.dataset["t" + name]) || (toasts && toasts.dataset["t" + name]) || name;
  const accountId = Number(body.dataset.accountId);
  const KEY = `xj.notify.${accountId}`;
  // Browsers offer notifications (and Web Locks) only in a secure context: HTTPS or localhost.
  const supported = "Notification" in window && window.isSecureContext !== false;

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (_) { return {}; }
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(settings)); } catch (_) { /* disabled: this page keeps them */ }
  }
  // { desktop: true | false | undefined (never asked), sound: true | false }
  let settings = load();
  window.addEventListener("storage", (event) => { if (event.key === KEY) { settings = load(); draw(); } });

  // --- The tab title: "(N) title", N the sum of the header's badges (notices unread,
  // chat unread, tickets waiting), whoever updates them.
  const baseTitle = document.title.replace(/^\(\d+\) /, "");
  const counters = ["unread-badge", "chat-badge", "queue-badge"]
    .map((id) => document.getElementById(id)).filter(Boolean);
  function retitle() {
    const n = counters.reduce((sum, el) => sum + (Number(el.textContent) || 0), 0);
    const want = n > 0 ? `(${n}) ${baseTitle}` : baseTitle;
    if (document.title !== want) document.title = want;
  }
  const watcher = new MutationObserver(retitle);
  for (const el of counters) watcher.observe(el, { childList: true, characterData: true, subtree: true });
  retitle();

  // --- Which events notify, and with what.
  function describe(frame) {
    switch (frame.type) {
      case "notice.published": {
        const n = frame.notice;
        if (!n || n.author_id === accountId) return null;
        return { title: `${t("New")}: ${n.title}`, body: n.author_unit || "", url: n.url };
      }
      case "notice.corrected":
      case "notice.withdrawn": {
        // A circular I received is corrected (a new version to read) or withdrawn.
        const n = frame.notice;
        if (!n || n.author_id === accountId) return null;
        const corrected = frame.type === "notice.corrected";
        const why = corrected ? frame.note : frame.reason;
        return {
          title: `${t(corrected ? "Corrected" : "Withdrawn")}: ${n.title}`,
          body: why ? `${t("Reason")} ${why}` : n.author_unit || "",
          url: n.url,
        };
      }
      case "ticket.assigned":
        return { title: `${t("Assigned")}: #${Number(frame.ticket)} ${frame.title || ""}`, body: "", url: `/tickets/${Number(frame.ticket)}/` };
      case "chat.mention": {
        // A direct room's name is its key ("12:34"): no use to a reader.
        const room = frame.room && !/^\d+:\d+$/.test(frame.room.name || "") ? frame.room.name : "";
        return { title: `${frame.by || ""} ${t("Mentioned")}`, body: room, url: frame.room ? `/chat/${Number(frame.room.id)}/` : "/chat/" };
      }
      case "roll.alerts": {
        // Only a batch for my own school; a county manager gets the toast and badge.
        const mine = frame.schools && frame.schools[body.dataset.unitCode];
        return mine ? { title: t("RecordsN").replace("{n}", String(Number(mine))), body: "", url: "/roll/" } : null;
      }
      default:
        return null;
    }
  }

  // --- One tab per event. Every open tab of the account gets the same frame; each
  // claims its id under a Web Lock (shared by the origin's tabs), recording it in
  // localStorage, and only the tab that claims it first acts. A visible tab claims at
  // once (its toast is enough: no notification); a hidden one waits GRACE ms first,
  // so a visible tab normally wins. Without Web Locks (plain http outside localhost,
  // where the Notification API is unavailable too) the check is best-effort.
  const CLAIMS = `xj.notified.${accountId}`;
  const GRACE = 600;
  function claim(key) {
    let ids;
    try { ids = JSON.parse(localStorage.getItem(CLAIMS) || "[]"); } catch (_) { ids = []; }
    if (!Array.isArray(ids)) ids = [];
    if (ids.includes(key)) return false;
    ids.push(key);
    try { localStorage.setItem(CLAIMS, JSON.stringify(ids.slice(-300))); } catch (_) { /* still ours */ }
    return true;
  }
  function exclusively(fn) {
    if (navigator.locks && navigator.locks.request) return navigator.locks.request("xj.notify", fn);
    return Promise.resolve().then(fn);
  }
  // What each tab decided, as a DOM event: tests and other scripts can observe it.
  function report(key, action) {
    document.dispatchEvent(new CustomEvent("platform:notify", { detail: { key, action } }));
  }

  document.addEventListener("platform:event", (event) => {
    const frame = event.detail || {};
    const what = describe(frame);
    if (!what) return;
    const key = typeof frame.id === "number" ? `e${frame.id}` : `${frame.type}:${what.url}:${what.title}`;
    setTimeout(() => exclusively(() => decide(key, what)), document.visibilityState === "hidden" ? GRACE : 0);
  });

  function decide(key, what) {
    if (!claim(key)) return report(key, "other-tab");
    if (settings.sound) chime();
    if (document.visibilityState !== "hidden") return report(key, "visible");
    if (!(supported && settings.desktop === true && Notification.permission === "granted")) return report(key, "off");
    show(key, what);
    return report(key, "shown");
  }

  function show(key, what) {
    let note;
    try {
      note = new Notification(what.title, { body: what.body, tag: key, data: { url: what.url } });
    } catch (_) { return; } // e.g. Android Chrome allows only service-worker notifications
    note.addEventListener("click", () => {
      window.focus();
      if (what.url) location.assign(what.url);
      note.close();
    });
  }

  function chime() {
    const url = menu && menu.dataset.soundUrl;
    if (!url) return;
    // Autoplay rules may refuse until the reader has clicked on the page once.
    try { new Audio(url).play().catch(() => {}); } catch (_) { /* no audio */ }
  }

  // --- Asking once: a prompt the reader clicks (browsers require a gesture for the
  // permission request); the answer is remembered in `settings.desktop`.
  function ask() {
    if (!Notification.requestPermission) return Promise.resolve(Notification.permission);
    return Promise.resolve(Notification.requestPermission());
  }
  function enable() {
    return ask().then((permission) => {
      settings = load();
      settings.desktop = permission === "granted";
      save();
      draw();
      return settings.desktop;
    }, () => false);
  }

  function prompt() {
    const main = document.querySelector("main");
    if (!supported || !main || settings.desktop !== undefined || Notification.permission === "denied") return;
    const box = document.createElement("div");
    // At the top of the page, not among the toasts: it stays until answered and must
    // never cover a button (the toasts are fixed at the bottom right).
    box.className = "notify-ask";
    box.setAttribute("role", "region");
    const text = document.createElement("div");
    text.textContent = t("Ask");
    const yes = document.createElement("button");
    yes.type = "button"; yes.className = "notify-yes"; yes.textContent = t("Enable");
    yes.addEventListener("click", () => { box.remove(); enable(); });
    const no = document.createElement("button");
    no.type = "button"; no.className = "link notify-no"; no.textContent = t("Later");
    no.addEventListener("click", () => { box.remove(); settings = load(); settings.desktop = false; save(); draw(); });
    const actions = document.createElement("div");
    actions.className = "notify-actions";
    actions.append(yes, no);
    box.append(text, actions);
    main.prepend(box);
  }

  // --- The settings menu in the header (templates/base.html #notify-settings).
  const desktopBox = document.getElementById("notify-desktop");
  const soundBox = document.getElementById("notify-sound");
  const blocked = document.getElementById("notify-blocked");
  function draw() {
    if (desktopBox) {
      desktopBox.disabled = !supported;
      desktopBox.checked = supported && settings.desktop === true && Notification.permission === "granted";
    }
    if (soundBox) soundBox.checked = settings.sound === true;
    if (blocked) blocked.hidden = !(supported && Notification.permission === "denied");
    if (settings.desktop !== undefined) document.querySelectorAll(".notify-ask").forEach((el) => el.remove());
  }
  if (desktopBox) desktopBox.addEventListener("change", () => {
    if (desktopBox.checked) { enable(); return; }
    settings = load(); settings.desktop = false; save(); draw();
  });
  if (soundBox) soundBox.addEventListener("change", () => {
    settings = load(); settings.sound = soundBox.checked; save();
    if (soundBox.checked) chime(); // a sample, and the gesture that lets later ones play
  });
  draw();
  prompt();
})();
