// Canned replies (常用回复) in a ticket's reply box: typing "/" and a shortcut, pressing
// Ctrl+/ or the "Canned replies" button opens a chooser; Enter or a click inserts the
// text. The replies come from <script type="application/json" id="canned-replies">; the
// reply box may be re-rendered by tickets.js, so everything is looked up when used.
"use strict";
(function () {
  let chooser = null;
  let items = [];
  let active = 0;
  let slash = null; // [start, end] of the "/word" being typed, replaced on insert

  function replies() {
    const data = document.getElementById("canned-replies");
    if (!data) return [];
    try { return JSON.parse(data.textContent) || []; } catch (_) { return []; }
  }

  function box() { return document.getElementById("reply-body"); }

  function close() {
    if (chooser) chooser.remove();
    chooser = null;
    slash = null;
    const button = document.getElementById("canned-open");
    if (button) button.setAttribute("aria-expanded", "false");
  }

  function mark() {
    if (!chooser) return;
    chooser.querySelectorAll("[role=option]").forEach((li, i) => {
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      if (i === active) {
        li.scrollIntoView({ block: "nearest" });
        const area = box();
        if (area) area.setAttribute("aria-activedescendant", li.id);
      }
    });
  }

  function open(filter) {
    const area = box();
    if (!area) return;
    const all = replies();
    const q = (filter || "").toLowerCase();
    items = q ? all.filter((r) => r.shortcut.toLowerCase().startsWith("/" + q) || r.title.toLowerCase().includes(q)) : all;
    if (chooser) chooser.remove();
    chooser = document.createElement("ul");
    chooser.id = "canned-chooser";
    chooser.className = "canned-chooser";
    chooser.setAttribute("role", "listbox");
    const button = document.getElementById("canned-open");
    if (button) button.setAttribute("aria-expanded", "true");
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = (button && button.dataset.empty) || "—";
      chooser.appendChild(li);
    }
    items.forEach((r, i) => {
      const li = document.createElement("li");
      li.id = `canned-option-${i}`;
      li.setAttribute("role", "option");
      li.dataset.index = String(i);
      const code = document.createElement("span");
      code.className = "code";
      code.textContent = r.shortcut;
      const title = document.createElement("strong");
      title.textContent = " " + r.title;
      const tier = document.createElement("span");
      tier.className = "hint";
      tier.textContent = " · " + r.tier;
      li.append(code, title, tier);
      chooser.appendChild(li);
    });
    area.insertAdjacentElement("afterend", chooser);
    active = 0;
    mark();
  }

  function insert(reply) {
    const area = box();
    if (!area || !reply) return;
    const [start, end] = slash || [area.selectionStart, area.selectionEnd];
    area.value = area.value.slice(0, start) + reply.body + area.value.slice(end);
    const caret = start + reply.body.length;
    area.focus();
    area.setSelectionRange(caret, caret);
    area.removeAttribute("aria-activedescendant");
    close();
  }

  // The "/word" just before the caret: at the start, or after anything but a letter,
  // digit or slash (Chinese text has no spaces; "a/b" and "http://" are no shortcut).
  function typedShortcut(area) {
    const caret = area.selectionStart;
    const before = area.value.slice(0, caret);
    const m = before.match(/(^|[^a-z0-9_/])\/([a-z0-9_-]*)$/i);
    if (!m) return null;
    return { word: m[2], start: caret - m[2].length - 1, end: caret };
  }

  document.addEventListener("input", (event) => {
    const area = event.target;
    if (!area || area.id !== "reply-body" || !document.getElementById("canned-replies")) return;
    const typed = typedShortcut(area);
    if (!typed) { if (slash) close(); return; }
    open(typed.word);
    slash = [typed.start, typed.end];
  });

  document.addEventListener("keydown", (event) => {
    const area = event.target;
    if (!area || area.id !== "reply-body" || !document.getElementById("canned-replies")) return;
    if (event.key === "/" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (chooser) close(); else open("");
      return;
    }
    if (!chooser) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!items.length) return;
      active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      mark();
    } else if (event.key === "Enter" && items.length) {
      event.preventDefault();
      insert(items[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#canned-open");
    if (button) {
      if (chooser) close(); else { open(""); const area = box(); if (area) area.focus(); }
      return;
    }
    const option = event.target.closest && event.target.closest("#canned-chooser [role=option]");
    if (option) {
      insert(items[Number(option.dataset.index)]);
      return;
    }
    if (chooser && !(event.target.closest && event.target.closest("#canned-chooser"))) close();
  });
})();
