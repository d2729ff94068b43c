/* fleetbench chart: small SVG line charts with a hover read-out, series toggles and a
 * legend laid out beside the plot (never over it). Written for fleetbench (same licence
 * as the project); no dependency, works offline. Used by the live dashboard and by
 * report.html (inlined there). */
(function (global) {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31",
    "#843c39", "#7b4173", "#3182bd"];

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    var a = Math.abs(v);
    if (a >= 1000) return v.toFixed(0);
    if (a >= 100) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(3);
  }

  function niceTicks(lo, hi, n) {
    if (hi <= lo) hi = lo + 1;
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    var err = (hi - lo) / n / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var ticks = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
    return ticks;
  }

  /* new LineChart(container, {title, xLabel, yLabel, logY})
   * chart.setSeries([{name, points: [[x, y], ...], color?}]) */
  function LineChart(container, opts) {
    this.opts = opts || {};
    this.series = [];
    this.hidden = {};
    this.root = document.createElement("figure");
    this.root.className = "fc-chart";
    if (this.opts.id) this.root.id = this.opts.id;
    var cap = document.createElement("figcaption");
    cap.textContent = this.opts.title || "";
    this.root.appendChild(cap);
    var body = document.createElement("div");
    body.className = "fc-body";
    this.root.appendChild(body);
    this.plot = document.createElement("div");
    this.plot.className = "fc-plot";
    body.appendChild(this.plot);
    this.legend = document.createElement("ul");
    this.legend.className = "fc-legend";
    body.appendChild(this.legend);
    this.readout = document.createElement("div");
    this.readout.className = "fc-readout";
    this.plot.appendChild(this.readout);
    this.width = this.opts.width || 560;
    this.height = this.opts.height || 240;
    this.svg = el("svg", { viewBox: "0 0 " + this.width + " " + this.height, class: "fc-svg",
      role: "img", "aria-label": this.opts.title || "chart" }, null);
    this.plot.insertBefore(this.svg, this.readout);
    container.appendChild(this.root);
    var self = this;
    this.svg.addEventListener("mousemove", function (ev) { self.hover(ev); });
    this.svg.addEventListener("mouseleave", function () { self.unhover(); });
  }

  LineChart.prototype.setSeries = function (series) {
    this.series = series.map(function (s, i) {
      return { name: s.name, points: s.points, color: s.color || PALETTE[i % PALETTE.length] };
    });
    this.render();
  };

  LineChart.prototype.toggle = function (name) {
    this.hidden[name] = !this.hidden[name];
    this.render();
  };

  LineChart.prototype.visible = function () {
    var h = this.hidden;
    return this.series.filter(function (s) { return !h[s.name]; });
  };

  LineChart.prototype.render = function () {
    var svg = this.svg, o = this.opts, W = this.width, H = this.height;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var m = { l: 56, r: 10, t: 8, b: 30 };
    var xs = [], ys = [];
    this.visible().forEach(function (s) {
      s.points.forEach(function (p) {
        if (p[1] === null || !isFinite(p[1])) return;
        if (o.logY && p[1] <= 0) return;
        xs.push(p[0]); ys.push(p[1]);
      });
    });
    var x0 = xs.length ? Math.min.apply(null, xs) : 0, x1 = xs.length ? Math.max.apply(null, xs) : 1;
    if (x1 <= x0) x1 = x0 + 1;
    var y0, y1, ty, tf;
    if (o.logY) {
      var lo = ys.length ? Math.min.apply(null, ys) : 1, hi = ys.length ? Math.max.apply(null, ys) : 10;
      y0 = Math.floor(Math.log10(lo)); y1 = Math.ceil(Math.log10(hi));
      if (y1 <= y0) y1 = y0 + 1;
      ty = function (v) { return Math.log10(v); };
      tf = [];
      for (var d = y0; d <= y1; d++) tf.push(d);
    } else {
      y0 = 0; y1 = ys.length ? Math.max.apply(null, ys) * 1.05 : 1;
      if (y1 <= 0) y1 = 1;
      ty = function (v) { return v; };
      tf = niceTicks(y0, y1, 4);
      y1 = Math.max(y1, tf[tf.length - 1]);
    }
    var sx = function (x) { return m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r); };
    var sy = function (y) { return H - m.b - (ty(y) - y0) / (y1 - y0) * (H - m.t - m.b); };
    this.scale = { sx: sx, x0: x0, x1: x1, m: m };
    tf.forEach(function (t) {
      var v = o.logY ? Math.pow(10, t) : t;
      var y = sy(v);
      el("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: "fc-grid" }, svg);
      el("text", { x: m.l - 4, y: y + 4, "text-anchor": "end", class: "fc-tick" }, svg).textContent = fmt(v);
    });
    niceTicks(x0, x1, 6).forEach(function (t) {
      var x = sx(t);
      el("line", { x1: x, x2: x, y1: H - m.b, y2: H - m.b + 4, class: "fc-axis" }, svg);
      el("text", { x: x, y: H - m.b + 16, "text-anchor": "middle", class: "fc-tick" }, svg).textContent = fmt(t);
    });
    el("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "fc-axis" }, svg);
    el("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "fc-axis" }, svg);
    if (o.xLabel) el("text", { x: W - m.r, y: H - 2, "text-anchor": "end", class: "fc-label" }, svg).textContent = o.xLabel;
    if (o.yLabel) el("text", { x: 4, y: m.t + 10, class: "fc-label" }, svg).textContent = o.yLabel;
    var self = this;
    this.series.forEach(function (s) {
      var d = "", pen = false;
      s.points.forEach(function (p) {
        var ok = p[1] !== null && isFinite(p[1]) && !(o.logY && p[1] <= 0);
        if (!ok) { pen = false; return; }
        d += (pen ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1);
        pen = true;
      });
      var path = el("path", { d: d || "M0 0", fill: "none", stroke: s.color, "stroke-width": 1.6,
        class: "fc-line", "data-series": s.name }, svg);
      if (self.hidden[s.name]) path.style.display = "none";
    });
    this.rule = el("line", { x1: 0, x2: 0, y1: m.t, y2: H - m.b, class: "fc-rule" }, svg);
    this.rule.style.display = "none";
    this.renderLegend();
  };

  LineChart.prototype.renderLegend = function () {
    var lg = this.legend, self = this;
    while (lg.firstChild) lg.removeChild(lg.firstChild);
    this.series.forEach(function (s) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.className = "fc-toggle" + (self.hidden[s.name] ? " fc-off" : "");
      b.setAttribute("data-series", s.name);
      b.setAttribute("aria-pressed", self.hidden[s.name] ? "false" : "true");
      b.title = "show or hide " + s.name;
      var sw = document.createElement("span");
      sw.className = "fc-swatch";
      sw.style.background = s.color;
      b.appendChild(sw);
      b.appendChild(document.createTextNode(s.name));
      b.addEventListener("click", function () { self.toggle(s.name); });
      li.appendChild(b);
      lg.appendChild(li);
    });
  };

  LineChart.prototype.hover = function (ev) {
    if (!this.scale) return;
    var r = this.svg.getBoundingClientRect();
    var px = (ev.clientX - r.left) / r.width * this.width;
    var sc = this.scale;
    var x = sc.x0 + (px - sc.m.l) / (this.width - sc.m.l - sc.m.r) * (sc.x1 - sc.x0);
    var rows = [], best = null;
    this.visible().forEach(function (s) {
      var near = null;
      s.points.forEach(function (p) {
        if (near === null || Math.abs(p[0] - x) < Math.abs(near[0] - x)) near = p;
      });
      if (near) {
        rows.push([s, near]);
        if (best === null || Math.abs(near[0] - x) < Math.abs(best - x)) best = near[0];
      }
    });
    if (best === null) { this.unhover(); return; }
    this.rule.setAttribute("x1", sc.sx(best));
    this.rule.setAttribute("x2", sc.sx(best));
    this.rule.style.display = "";
    var rd = this.readout;
    while (rd.firstChild) rd.removeChild(rd.firstChild);
    var head = document.createElement("div");
    head.className = "fc-readout-x";
    head.textContent = (this.opts.xLabel || "x") + " = " + fmt(best);
    rd.appendChild(head);
    rows.forEach(function (row) {
      if (row[1][0] !== best) return;
      var line = document.createElement("div");
      var sw = document.createElement("span");
      sw.className = "fc-swatch";
      sw.style.background = row[0].color;
      line.appendChild(sw);
      line.appendChild(document.createTextNode(row[0].name + ": " + fmt(row[1][1])));
      rd.appendChild(line);
    });
    rd.style.display = "block";
    rd.style.left = (px / this.width * 100 > 60 ? "auto" : Math.max(0, ev.clientX - r.left + 12) + "px");
    rd.style.right = (px / this.width * 100 > 60 ? (r.right - ev.clientX + 12) + "px" : "auto");
  };

  LineChart.prototype.unhover = function () {
    if (this.rule) this.rule.style.display = "none";
    this.readout.style.display = "none";
  };

  /* Makes every table.fc-sortable sortable by clicking its header cells. */
  function sortableTables(root) {
    (root || document).querySelectorAll("table.fc-sortable").forEach(function (table) {
      var head = table.querySelector("tr");
      if (!head) return;
      Array.prototype.forEach.call(head.children, function (th, col) {
        th.classList.add("fc-sort");
        th.addEventListener("click", function () {
          var rows = Array.prototype.slice.call(table.querySelectorAll("tr")).slice(1);
          var desc = th.getAttribute("aria-sort") === "ascending";
          Array.prototype.forEach.call(head.children, function (h) { h.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", desc ? "descending" : "ascending");
          var key = function (tr) {
            var c = tr.children[col];
            var t = c ? (c.getAttribute("data-v") || c.textContent) : "";
            var n = parseFloat(t.replace(/[^0-9.eE+-]/g, ""));
            return isNaN(n) || /^[^0-9.+-]/.test(t.trim()) ? t : n;
          };
          rows.sort(function (a, b) {
            var ka = key(a), kb = key(b), c;
            if (typeof ka === "number" && typeof kb === "number") c = ka - kb;
            else c = String(ka).localeCompare(String(kb));
            return desc ? -c : c;
          });
          var parent = rows.length ? rows[0].parentNode : null;
          rows.forEach(function (r) { parent.appendChild(r); });
        });
      });
    });
  }

  global.FleetChart = { LineChart: LineChart, sortableTables: sortableTables, format: fmt };
})(this);
