/**
 * The dashboard page, its script and its stylesheet, served from the package itself (no CDN).
 * The script builds the page from the JSON snapshots of `/events` with DOM calls and textContent
 * only (a server's attributes are data, never markup) and draws the charts with uPlot.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allot dashboard</title>
<link rel="stylesheet" href="dashboard/uplot.css">
<link rel="stylesheet" href="dashboard/app.css">
</head>
<body>
<header>
  <h1>Allot <span id="node">…</span></h1>
  <div id="summary"></div>
  <div id="feed" class="feed down">connecting</div>
</header>
<main>
  <section class="wide">
    <h2>Fleet <span id="fleet-count" class="muted"></span></h2>
    <table id="fleet">
      <thead><tr><th>server</th><th>status</th><th>load / capacity</th><th>power</th><th>applications</th><th>attributes</th><th>last report</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Tasks per second</h2>
    <div id="chart-tps" class="chart"></div>
  </section>
  <section>
    <h2>Placement time p50 / p99 (ms)</h2>
    <div id="chart-latency" class="chart"></div>
  </section>
  <section class="wide">
    <h2>Latest placement decisions</h2>
    <table id="decisions">
      <thead><tr><th>time</th><th>task</th><th>app</th><th>server</th><th>reason</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Errors by code</h2>
    <table id="errors">
      <thead><tr><th>code</th><th>count</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script src="dashboard/uplot.js"></script>
<script src="dashboard/app.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #6b7385; --line: #e3e6ec; --bg: #f6f7f9; --card: #fff; --ok: #1f9d55; --warn: #d69e2e; --bad: #c53030; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 24px; align-items: baseline; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 14px; margin: 0 0 8px; }
.muted { color: var(--muted); font-weight: normal; }
#summary { color: var(--muted); flex: 1; }
.feed { font-size: 12px; padding: 2px 8px; border-radius: 10px; color: #fff; background: var(--ok); }
.feed.down { background: var(--bad); }
main { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; padding: 16px 20px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.num { font-variant-numeric: tabular-nums; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; color: #fff; font-size: 12px; }
.status.alive { background: var(--ok); }
.status.suspect, .status.draining { background: var(--warn); }
.status.dead { background: var(--bad); }
.bar { position: relative; width: 160px; height: 16px; background: var(--line); border-radius: 3px; overflow: hidden; display: inline-block; vertical-align: middle; }
.bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: #4c78dd; }
.bar > span.reserved { background: #a3bdf5; }
.bar-label { margin-left: 8px; font-variant-numeric: tabular-nums; }
.tag { display: inline-block; margin: 0 4px 2px 0; padding: 0 6px; border-radius: 3px; background: #eef1f6; font-size: 12px; }
.chart { min-height: 220px; }
td.refused { color: var(--bad); }
`;

export const DASHBOARD_JS = String.raw`(function () {
  "use strict";
  var state = { snapshots: 0, last: null, charts: {} };
  window.__allotDashboard = state;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function age(ms) {
    if (ms < 1000) return ms + " ms ago";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s ago";
    return Math.round(ms / 60000) + " min ago";
  }
  function clock(ms) {
    var d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function attrText(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function renderFleet(s) {
    var body = document.querySelector("#fleet tbody");
    var rows = s.servers.slice().sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
    body.replaceChildren();
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.serverId = r.id;
      tr.dataset.status = r.status;
      tr.dataset.load = String(r.load);
      tr.dataset.reserved = String(r.reserved);
      tr.appendChild(el("td", "id", r.id));
      var st = el("td");
      st.appendChild(el("span", "status " + r.status, r.status));
      tr.appendChild(st);
      var lc = el("td", "load");
      var bar = el("span", "bar");
      var cap = Math.max(1, r.capacity);
      var used = el("span");
      used.style.width = Math.min(100, (100 * r.load) / cap) + "%";
      var res = el("span", "reserved");
      res.style.left = Math.min(100, (100 * r.load) / cap) + "%";
      res.style.width = Math.min(100, (100 * r.reserved) / cap) + "%";
      bar.appendChild(used);
      bar.appendChild(res);
      lc.appendChild(bar);
      lc.appendChild(el("span", "bar-label", r.load + (r.reserved > 0 ? " (+" + r.reserved + ")" : "") + " / " + r.capacity));
      tr.appendChild(lc);
      tr.appendChild(el("td", "num", r.power));
      var apps = el("td");
      r.apps.forEach(function (a) { apps.appendChild(el("span", "tag", a)); });
      tr.appendChild(apps);
      var attrs = el("td");
      Object.keys(r.attrs).sort().forEach(function (k) { attrs.appendChild(el("span", "tag", k + "=" + attrText(r.attrs[k]))); });
      tr.appendChild(attrs);
      tr.appendChild(el("td", "num age", age(r.ageMs)));
      body.appendChild(tr);
    });
    var alive = rows.filter(function (r) { return r.status === "alive"; }).length;
    document.getElementById("fleet-count").textContent = alive + " alive of " + rows.length;
  }

  function renderDecisions(s) {
    var body = document.querySelector("#decisions tbody");
    body.replaceChildren();
    s.decisions.forEach(function (d) {
      var tr = el("tr");
      tr.appendChild(el("td", "num", clock(d.at)));
      tr.appendChild(el("td", null, d.taskId));
      tr.appendChild(el("td", null, d.app));
      tr.appendChild(el("td", d.server === null ? "refused" : null, d.server === null ? "refused (" + (d.code || "error") + ")" : d.server));
      tr.appendChild(el("td", "reason", d.reason));
      body.appendChild(tr);
    });
    if (s.decisions.length === 0) {
      var tr = el("tr");
      var td = el("td", "muted", "no placement yet");
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function renderErrors(s) {
    var body = document.querySelector("#errors tbody");
    body.replaceChildren();
    var codes = Object.keys(s.errors).sort();
    codes.forEach(function (c) {
      var tr = el("tr");
      tr.dataset.code = c;
      tr.appendChild(el("td", null, c));
      tr.appendChild(el("td", "num", s.errors[c]));
      body.appendChild(tr);
    });
    if (codes.length === 0) {
      var tr = el("tr");
      var td = el("td", "muted", "none");
      td.colSpan = 2;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function chart(id, series, data) {
    var box = document.getElementById(id);
    var width = Math.max(300, box.clientWidth);
    var existing = state.charts[id];
    if (existing) {
      if (Math.abs(existing.width - width) > 4) existing.setSize({ width: width, height: 200 });
      existing.setData(data);
      return;
    }
    var opts = {
      width: width,
      height: 200,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: [{}, { size: 50 }],
    };
    state.charts[id] = new uPlot(opts, data, box);
  }

  function renderCharts(s) {
    var h = s.history;
    chart("chart-tps", [{ label: "tasks/s", stroke: "#4c78dd", fill: "rgba(76,120,221,0.15)", width: 2 }], [h.t, h.tps]);
    chart("chart-latency", [
      { label: "p50 ms", stroke: "#1f9d55", width: 2, spanGaps: false },
      { label: "p99 ms", stroke: "#c53030", width: 2, spanGaps: false },
    ], [h.t, h.p50, h.p99]);
  }

  function render(s) {
    state.snapshots++;
    state.last = s;
    document.getElementById("node").textContent = s.role + " " + s.node;
    document.getElementById("summary").textContent =
      "policy " + (s.policy || "?") + " · placed " + s.placed + " · refused " + s.refused + " · updated " + clock(s.at);
    renderFleet(s);
    renderDecisions(s);
    renderErrors(s);
    renderCharts(s);
  }

  var feed = document.getElementById("feed");
  var source = new EventSource("events");
  source.onopen = function () { feed.textContent = "live"; feed.className = "feed"; };
  source.onerror = function () { feed.textContent = "reconnecting"; feed.className = "feed down"; };
  source.onmessage = function (ev) {
    try { render(JSON.parse(ev.data)); } catch (err) { feed.textContent = "bad snapshot: " + err; feed.className = "feed down"; }
  };
})();
`;
