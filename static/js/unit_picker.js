/* The unit picker (issue 15): enhances a text input of unit codes marked
 * data-unit-picker="multi" or "single" (accounts/widgets.py UnitPickerInput).
 *
 * Chips name the units whose codes the input holds; a search box (a combobox over a
 * listbox) finds units of one's own subtree by name, pinyin initials or code; the
 * browse button walks the tree level by level. Choosing writes the codes back into the
 * original input, which stays on the page (one may still type codes) and is the whole
 * form without script. Words come from the page (data-picker-labels, in its language).
 * The JSON: /unit-picker/search.json, children.json and units.json (accounts/picker.py).
 */
(function () {
  "use strict";

  var SPLIT = /[\s,，;；、]+/;
  var serial = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function fmt(template, value) {
    return String(template || "%s").replace("%s", value);
  }

  function getJSON(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    });
  }

  function enhance(input) {
    if (input.dataset.unitPickerReady) return;
    input.dataset.unitPickerReady = "1";
    var multi = input.dataset.unitPicker === "multi";
    var L = {};
    try {
      L = JSON.parse(input.dataset.pickerLabels || "{}");
    } catch (e) {
      L = {};
    }
    var levels = input.dataset.pickerLevels || "";
    var id = "unit-picker-" + ++serial;
    var known = {}; // code -> unit row from the server
    var rows = []; // the options shown
    var active = -1;
    var mode = "closed"; // "search" | "browse" | "closed"
    var timer = null;
    var asked = 0;

    var box = el("div", "unit-picker");
    box.id = id;
    var chips = el("ul", "unit-chips");
    chips.setAttribute("aria-label", L.chosen || "");
    var bar = el("div", "unit-picker-bar");
    var search = el("input", "unit-picker-search");
    search.type = "search";
    search.id = id + "-q";
    search.setAttribute("role", "combobox");
    search.setAttribute("aria-autocomplete", "list");
    search.setAttribute("aria-expanded", "false");
    search.setAttribute("aria-controls", id + "-list");
    search.setAttribute("aria-label", L.search || "");
    search.setAttribute("autocomplete", "off");
    search.placeholder = L.search || "";
    var browse = el("button", "unit-picker-browse", L.browse || "…");
    browse.type = "button";
    browse.setAttribute("aria-controls", id + "-list");
    browse.setAttribute("aria-expanded", "false");
    bar.appendChild(search);
    bar.appendChild(browse);
    var trail = el("nav", "unit-trail");
    trail.hidden = true;
    var list = el("ul", "unit-results");
    list.id = id + "-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", L.results || "");
    if (multi) list.setAttribute("aria-multiselectable", "true");
    list.hidden = true;
    var status = el("p", "unit-picker-status hint");
    status.setAttribute("aria-live", "polite");
    box.appendChild(chips);
    box.appendChild(bar);
    box.appendChild(trail);
    box.appendChild(list);
    box.appendChild(status);
    input.insertAdjacentElement("afterend", box);
    input.classList.add("unit-picker-codes");
    if (L.typed) input.setAttribute("title", L.typed);

    function codes() {
      return (input.value || "").split(SPLIT).filter(Boolean);
    }

    function writeCodes(list) {
      input.value = list.join(" ");
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function has(code) {
      return codes().indexOf(code) >= 0;
    }

    function label(unit) {
      return unit.name + " (" + unit.code + ")";
    }

    function toggle(unit) {
      var current = codes();
      known[unit.code] = unit;
      if (current.indexOf(unit.code) >= 0) {
        writeCodes(current.filter(function (c) { return c !== unit.code; }));
        status.textContent = fmt(L.removed, label(unit));
      } else {
        writeCodes(multi ? current.concat([unit.code]) : [unit.code]);
        status.textContent = fmt(L.added, label(unit));
        if (!multi) close();
      }
      drawChips();
      drawList();
    }

    function drawChips() {
      chips.textContent = "";
      codes().forEach(function (code) {
        var unit = known[code];
        var chip = el("li", "unit-chip" + (unit ? "" : " unknown"));
        var name = el("span", "unit-chip-name", unit ? unit.name : code);
        chip.appendChild(name);
        if (unit) {
          chip.appendChild(el("span", "unit-chip-code", unit.code));
          if (unit.closed) chip.appendChild(el("span", "unit-chip-closed", L.closed || ""));
        } else if (code in known) {
          chip.title = L.unknown || "";
          chip.appendChild(el("span", "unit-chip-code", L.unknown || "?"));
        }
        var remove = el("button", "unit-chip-remove", "×");
        remove.type = "button";
        remove.setAttribute("aria-label", (L.remove || "") + " " + (unit ? label(unit) : code));
        remove.addEventListener("click", function () {
          writeCodes(codes().filter(function (c) { return c !== code; }));
          status.textContent = fmt(L.removed, unit ? label(unit) : code);
          drawChips();
          drawList();
          search.focus();
        });
        chip.appendChild(remove);
        chips.appendChild(chip);
      });
    }

    function nameTyped() {
      // Names for codes typed by hand (or already in the form): one request for those
      // not yet known; a code the server does not return is marked unknown.
      var missing = codes().filter(function (c) { return !(c in known); });
      if (!missing.length) {
        drawChips();
        return;
      }
      var url = input.dataset.pickerUnits + "?codes=" + encodeURIComponent(missing.join(" "));
      getJSON(url)
        .then(function (data) {
          missing.forEach(function (c) { known[c] = null; });
          data.units.forEach(function (u) { known[u.code] = u; });
          drawChips();
        })
        .catch(function () {
          drawChips();
        });
    }

    function open(newMode) {
      mode = newMode;
      list.hidden = false;
      search.setAttribute("aria-expanded", "true");
      browse.setAttribute("aria-expanded", newMode === "browse" ? "true" : "false");
    }

    function close() {
      mode = "closed";
      list.hidden = true;
      trail.hidden = true;
      rows = [];
      active = -1;
      search.setAttribute("aria-expanded", "false");
      search.removeAttribute("aria-activedescendant");
      browse.setAttribute("aria-expanded", "false");
    }

    function setActive(index) {
      var options = list.querySelectorAll('[role="option"]');
      if (!options.length) return;
      active = Math.max(0, Math.min(index, options.length - 1));
      options.forEach(function (o, i) {
        o.classList.toggle("active", i === active);
      });
      search.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }

    function drawList() {
      if (mode === "closed") return;
      list.textContent = "";
      if (!rows.length) {
        var empty = el("li", "unit-results-empty", L.none || "");
        empty.setAttribute("role", "presentation");
        list.appendChild(empty);
        return;
      }
      rows.forEach(function (unit, i) {
        var chosen = has(unit.code);
        var option = el("li", "unit-option" + (chosen ? " chosen" : ""));
        option.id = id + "-o" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", chosen ? "true" : "false");
        option.dataset.code = unit.code;
        option.appendChild(el("span", "unit-option-mark", chosen ? "✓" : ""));
        option.appendChild(el("span", "unit-option-name", unit.name));
        option.appendChild(el("span", "unit-option-level", unit.level_label));
        option.appendChild(el("span", "unit-option-code", unit.code));
        if (unit.children) {
          var into = el("button", "unit-option-open", fmt(L.below, unit.children) + " ›");
          into.type = "button";
          into.tabIndex = -1;
          into.title = L.open || "";
          into.addEventListener("click", function (event) {
            event.stopPropagation();
            browseInto(unit.code);
          });
          option.appendChild(into);
        }
        option.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus in the search box
        });
        option.addEventListener("click", function () {
          active = i;
          toggle(unit);
        });
        list.appendChild(option);
      });
      if (active >= rows.length) active = rows.length - 1;
      if (active >= 0) setActive(active);
    }

    function loading() {
      status.textContent = L.loading || "";
    }

    function failed() {
      status.textContent = L.failed || "";
    }

    function runSearch() {
      // A typed search still waiting for its pause would overwrite this one's rows.
      clearTimeout(timer);
      var q = search.value.trim();
      var ticket = ++asked;
      var url =
        input.dataset.pickerSearch +
        "?q=" + encodeURIComponent(q) +
        (levels ? "&levels=" + encodeURIComponent(levels) : "");
      loading();
      getJSON(url)
        .then(function (data) {
          if (ticket !== asked) return;
          status.textContent = "";
          trail.hidden = true;
          rows = data.units;
          data.units.forEach(function (u) { known[u.code] = u; });
          active = rows.length ? 0 : -1;
          open("search");
          drawList();
        })
        .catch(function () {
          if (ticket === asked) failed();
        });
    }

    function browseInto(code) {
      // Browsing replaces the list: a typed search still waiting must not replace it back.
      clearTimeout(timer);
      var ticket = ++asked;
      var url =
        input.dataset.pickerChildren +
        "?unit=" + encodeURIComponent(code || "") +
        (levels ? "&levels=" + encodeURIComponent(levels) : "");
      loading();
      getJSON(url)
        .then(function (data) {
          if (ticket !== asked) return;
          status.textContent = "";
          rows = [data.unit].concat(data.units);
          rows.forEach(function (u) { known[u.code] = u; });
          drawTrail(data.trail);
          active = rows.length > 1 ? 1 : 0;
          open("browse");
          drawList();
          search.focus();
        })
        .catch(function () {
          if (ticket === asked) failed();
        });
    }

    function drawTrail(units) {
      trail.textContent = "";
      trail.hidden = units.length < 2;
      units.forEach(function (unit, i) {
        if (i) trail.appendChild(el("span", "unit-trail-sep", "›"));
        if (i === units.length - 1) {
          trail.appendChild(el("span", "unit-trail-here", unit.name));
          return;
        }
        var up = el("button", "link", unit.name);
        up.type = "button";
        up.addEventListener("click", function () { browseInto(unit.code); });
        trail.appendChild(up);
      });
    }

    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(runSearch, 200);
    });
    search.addEventListener("focus", function () {
      if (mode === "closed" && search.value.trim()) runSearch();
    });
    search.addEventListener("keydown", function (event) {
      var key = event.key;
      if (key === "ArrowDown" || key === "ArrowUp") {
        event.preventDefault();
        if (mode === "closed") {
          if (search.value.trim()) runSearch();
          else browseInto("");
          return;
        }
        setActive(active + (key === "ArrowDown" ? 1 : -1));
      } else if (key === "Enter") {
        // Never submits the form from the search box.
        event.preventDefault();
        if (mode !== "closed" && active >= 0 && rows[active]) toggle(rows[active]);
        else runSearch();
      } else if (key === "ArrowRight" && mode !== "closed" && rows[active] && rows[active].children) {
        event.preventDefault();
        browseInto(rows[active].code);
      } else if (key === "ArrowLeft" && mode === "browse" && !search.value) {
        var back = trail.querySelectorAll("button");
        if (back.length) {
          event.preventDefault();
          back[back.length - 1].click();
        }
      } else if (key === "Escape" && mode !== "closed") {
        event.preventDefault();
        close();
      }
    });
    browse.addEventListener("click", function () {
      if (mode === "browse") close();
      else browseInto("");
    });
    input.addEventListener("change", nameTyped);
    // Pointer down, not click: a click's target may be an option just redrawn away.
    document.addEventListener("pointerdown", function (event) {
      if (mode !== "closed" && !box.contains(event.target)) close();
    });
    nameTyped();
  }

  function start() {
    document.querySelectorAll("input[data-unit-picker]").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
