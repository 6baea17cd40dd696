// The contact directory (templates/chat/direct.html): the presence dots of the people
// shown, refreshed every 30 s and when the socket (re)opens, from chat_directory_presence.
"use strict";
(function () {
  const list = document.getElementById("directory");
  if (!list) return;
  const words = { online: list.dataset.tOnline, away: list.dataset.tAway, offline: list.dataset.tOffline };

  function refresh() {
    const rows = Array.from(list.querySelectorAll("li[data-account]"));
    if (!rows.length) return;
    const ids = rows.map((li) => li.dataset.account).join(",");
    fetch(`${list.dataset.presenceUrl}?ids=${encodeURIComponent(ids)}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data || !data.presence) return;
        rows.forEach((li) => {
          const state = data.presence[li.dataset.account];
          if (!(state in words)) return;
          const dot = li.querySelector("[data-presence]");
          if (dot) {
            dot.className = `dot ${state}`;
            dot.title = words[state];
          }
          const word = li.querySelector(".presence-word");
          if (word) word.textContent = words[state];
        });
      })
      .catch(() => {});
  }
  // After this tab's own heartbeat (chat.js) has gone out, as the room's member list does.
  document.addEventListener("platform:open", () => setTimeout(refresh, 300));
  setInterval(refresh, 30000);
})();
