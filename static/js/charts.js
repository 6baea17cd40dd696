/* Charts (issue 16, item 2): draws every [data-chart] element from the JSON of the
 * <script type="application/json"> it names (dashboards/charts.py builds it), with the
 * vendored ECharts (static/vendor/echarts) and its SVG renderer: crisp in print, and no
 * inline style attributes or eval for the strict CSP (tooltips are drawn inside the SVG,
 * renderMode "richText", not as HTML). A chart with nothing to draw says 暂无数据.
 * Charts follow their box: resized with the window (390 px phones) and for printing. */
(function () {
  "use strict";

  const charts = [];

  function spec(el) {
    const node = document.getElementById(el.dataset.chart);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (e) {
      return null;
    }
  }

  function showEmpty(el, text) {
    const p = document.createElement("p");
    p.className = "chart-empty";
    p.textContent = text || "暂无数据";
    el.replaceWith(p);
  }

  function hasData(s) {
    // A percentage of 0 is a figure; a count of 0 everywhere is nothing to draw.
    return (s.series || []).some((row) =>
      (row.data || []).some((v) => (s.percent ? v !== null && v !== undefined : v)),
    );
  }

  const base = {
    animation: false,
    aria: { enabled: true },
    textStyle: { fontFamily: "system-ui, sans-serif" },
    tooltip: { trigger: "axis", renderMode: "richText", confine: true },
  };

  function percentAxis(s) {
    return s.percent ? { min: 0, max: 100, axisLabel: { formatter: "{value}%" } } : {};
  }

  function barOption(s, horizontal) {
    const value = Object.assign({ type: "value", minInterval: 1 }, percentAxis(s));
    const category = {
      type: "category",
      data: s.categories,
      inverse: horizontal,
      axisLabel: { width: 96, overflow: "truncate", interval: 0, hideOverlap: true },
    };
    const stacked = s.kind === "stack";
    return Object.assign({}, base, {
      legend: stacked ? { type: "scroll", top: 0 } : undefined,
      grid: { left: 8, right: 24, top: stacked ? 36 : 16, bottom: 8, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: s.series.map((row) => ({
        name: row.name,
        type: "bar",
        stack: stacked ? "all" : undefined,
        data: row.data,
        barMaxWidth: 32,
        label: stacked
          ? undefined
          : { show: true, position: horizontal ? "right" : "top", formatter: s.percent ? "{c}%" : "{c}" },
      })),
    });
  }

  function lineOption(s) {
    return Object.assign({}, base, {
      grid: { left: 8, right: 24, top: 24, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: s.categories, axisLabel: { hideOverlap: true } },
      yAxis: Object.assign({ type: "value" }, percentAxis(s)),
      series: s.series.map((row) => ({
        name: row.name,
        type: "line",
        data: row.data,
        connectNulls: false,
        symbolSize: 8,
        label: { show: true, formatter: s.percent ? "{c}%" : "{c}", fontSize: 10 },
      })),
    });
  }

  // Horizontal bars when the categories are units: they stay legible at 390 px.
  function sizeFor(el, s, horizontal) {
    const n = (s.categories || []).length;
    const height = horizontal ? Math.max(220, 30 * n + 60) : 300;
    el.style.height = height + "px";
  }

  function make(el) {
    const chart = echarts.init(el, null, { renderer: "svg" });
    charts.push(chart);
    return chart;
  }

  function drawPlain(el, s) {
    const horizontal = s.kind === "stack" || (s.kind === "bar" && s.categories.length > 5);
    sizeFor(el, s, s.kind === "line" ? false : horizontal);
    const chart = make(el);
    chart.setOption(s.kind === "line" ? lineOption(s) : barOption(s, horizontal));
    el.dataset.chartReady = "1";
  }

  // --- the Ministry's map -------------------------------------------------------------

  const geo = {};

  function loadMap(code, url) {
    if (geo[code]) return Promise.resolve(geo[code]);
    return fetch(url, { credentials: "same-origin" })
      .then((r) => {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      })
      .then((json) => {
        echarts.registerMap("m" + code, json);
        const names = {};
        (json.features || []).forEach((f) => {
          names[String(f.id)] = f.properties.name;
        });
        geo[code] = names;
        return names;
      });
  }

  function mapOption(s, mapName, names, items, title) {
    const max = Math.max(1, ...items.map((i) => i.value || 0));
    const byName = {};
    const data = items
      .filter((i) => names[i.code])
      .map((i) => {
        byName[names[i.code]] = i.code;
        return { name: names[i.code], value: i.value };
      });
    return {
      byName: byName,
      option: Object.assign({}, base, {
        title: { text: title, left: "center", top: 0, textStyle: { fontSize: 14 } },
        tooltip: { trigger: "item", renderMode: "richText", confine: true },
        visualMap: {
          min: 0,
          max: max,
          left: 0,
          bottom: 0,
          calculable: false,
          itemHeight: 80,
          inRange: { color: ["#e8f1fb", "#1f5fa8"] },
          text: [String(max), "0"],
        },
        series: [
          {
            type: "map",
            map: mapName,
            roam: false,
            top: 28,
            bottom: 8,
            data: data,
            selectedMode: false,
            label: { show: false },
            emphasis: { label: { show: true } },
          },
        ],
      }),
    };
  }

  function fillDrill(s, province, children) {
    const box = document.getElementById("chart-drill");
    if (!box) return;
    box.hidden = !province;
    if (!province) return;
    box.querySelector(".chart-drill-title").textContent = province.name;
    const body = box.querySelector("tbody");
    body.textContent = "";
    children.forEach((c) => {
      const tr = document.createElement("tr");
      [c.name, c.code, String(c.value)].forEach((v, i) => {
        const td = document.createElement("td");
        if (i) td.className = "num";
        td.textContent = v;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    const link = document.getElementById("chart-drill-export");
    if (link) {
      const url = new URL(link.href, window.location.href);
      url.searchParams.set("province", province.code);
      link.href = url.pathname + url.search;
    }
  }

  function drawMap(el, s) {
    el.style.height = "460px";
    const chart = make(el);
    const back = document.createElement("button");
    back.type = "button";
    back.className = "button chart-back";
    back.textContent = s.back_text;
    back.hidden = true;
    el.before(back);
    const hint = document.createElement("p");
    hint.className = "muted chart-hint";
    hint.textContent = s.drill_hint;
    el.before(hint);
    let provinceOf = {};

    function country() {
      return loadMap("100000", s.maps["100000"]).then((names) => {
        const built = mapOption(s, "m100000", names, s.provinces, s.title);
        provinceOf = built.byName;
        chart.clear();
        chart.setOption(built.option);
        back.hidden = true;
        hint.hidden = false;
        el.dataset.level = "country";
        el.dataset.chartReady = "1";
        fillDrill(s, null, []);
      });
    }

    function province(code) {
      const p = s.provinces.find((x) => x.code === code);
      const children = s.children[code] || [];
      if (!p) return Promise.resolve();
      back.hidden = false;
      hint.hidden = true;
      el.dataset.level = "province";
      el.dataset.province = code;
      fillDrill(s, p, children);
      const title = p.name + " · " + s.series[0].name;
      if (s.maps[code]) {
        return loadMap(code, s.maps[code]).then((names) => {
          chart.clear();
          chart.setOption(mapOption(s, "m" + code, names, children, title).option);
        });
      }
      // No vendored map of this province: a bar chart of its units.
      chart.clear();
      const bars = {
        kind: "bar",
        categories: children.map((c) => c.name),
        series: [{ name: s.series[0].name, data: children.map((c) => c.value) }],
      };
      const option = barOption(bars, true);
      option.title = { text: title, left: "center", top: 0, textStyle: { fontSize: 14 } };
      option.grid.top = 32;
      chart.setOption(option);
      return Promise.resolve();
    }

    chart.on("click", (params) => {
      if (el.dataset.level !== "country") return;
      const code = provinceOf[params.name];
      if (code) province(code);
    });
    back.addEventListener("click", () => country());
    // Keyboard users: each province's name in the table below opens it too.
    const table = document.getElementById("chart-table-" + s.id);
    if (table) {
      table.querySelectorAll("tbody tr").forEach((tr) => {
        const cells = tr.querySelectorAll("td");
        if (cells.length < 2 || !s.children[cells[1].textContent.trim()]) return;
        const code = cells[1].textContent.trim();
        const link = document.createElement("a");
        link.href = "#chart-" + s.id;
        link.textContent = cells[0].textContent;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          province(code).then(() => el.scrollIntoView({ block: "start" }));
        });
        cells[0].textContent = "";
        cells[0].appendChild(link);
      });
    }
    country().catch(() => showEmpty(el, s.empty_text));
  }

  function draw(el) {
    const s = spec(el);
    if (!s || (s.kind !== "map" && !hasData(s)) || s.empty) {
      showEmpty(el, s && s.empty_text);
      return;
    }
    if (typeof echarts === "undefined") return;
    if (s.kind === "map") drawMap(el, s);
    else drawPlain(el, s);
  }

  function resizeAll() {
    charts.forEach((c) => c.resize());
  }

  let pending = null;
  window.addEventListener("resize", () => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(resizeAll, 100);
  });
  // Printing: the print stylesheet changes the boxes' width; redraw the SVG to fit.
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);
  if (window.matchMedia) {
    const print = window.matchMedia("print");
    if (print.addEventListener) print.addEventListener("change", resizeAll);
  }

  function start() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
