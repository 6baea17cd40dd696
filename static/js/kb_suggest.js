// Knowledge-base suggestions while a ticket is typed (issue 16, F3): the title and the
// description are sent, debounced, to the form's data-kb-suggest URL; matching articles
// are listed under the title and open in a new tab. The session token the server
// returns is sent back with each later call and carried by the article links (?s=), so
// the server counts suggestions shown, articles opened and tickets raised (deflection).
(function () {
  "use strict";
  var DELAY = 400;
  var MIN_CHARS = 2;

  function init() {
    var form = document.getElementById("ticket-form");
    var box = document.getElementById("kb-suggest");
    if (!form || !box || !form.dataset.kbSuggest) return;
    var list = document.getElementById("kb-suggest-list");
    var title = form.querySelector("[name=title]");
    var description = form.querySelector("[name=description]");
    if (!title) return;
    title.insertAdjacentElement("afterend", box);
    var session = null;
    var timer = null;
    var last = "";
    var seq = 0;

    function text() {
      var t = title.value.trim();
      var d = description ? description.value.trim().slice(0, 300) : "";
      return (t + " " + d).trim();
    }

    function show(results) {
      list.textContent = "";
      results.forEach(function (r) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = r.url;
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = r.title;
        a.className = "kb-suggestion";
        li.appendChild(a);
        if (r.unit) {
          var unit = document.createElement("span");
          unit.className = "hint";
          unit.textContent = " " + r.unit;
          li.appendChild(unit);
        }
        list.appendChild(li);
      });
      box.hidden = results.length === 0;
    }

    function ask() {
      var q = text();
      if (q === last) return;
      last = q;
      if (q.length < MIN_CHARS) {
        show([]);
        return;
      }
      var mine = ++seq;
      var url = form.dataset.kbSuggest + "?q=" + encodeURIComponent(q.slice(0, 500));
      if (session) url += "&s=" + encodeURIComponent(session);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || mine !== seq) return; // a later call answers instead
          if (data.session) session = data.session;
          show(data.results || []);
        })
        .catch(function () { /* suggestions are a help, never a blocker */ });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY);
    }

    title.addEventListener("input", later);
    if (description) description.addEventListener("input", later);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
