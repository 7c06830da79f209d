/* qnn-figures.js: lazy drawing and responsive layout of the qnn-book's plotly figures (loaded right after
 * plotly-cartesian.min.js).
 *
 * The figures are announced by plotly's own `Plotly.newPlot` calls in the page. This file wraps `Plotly.newPlot` so
 * that
 *   - a figure's shared template (written once per page by qnn.plotting.embedding) is put back into its layout, and its
 *     arrays written once for several traces into each of them;
 *   - its container gets the figure's final height at once, and the figure is drawn only when it comes within one
 *     screen of the viewport (IntersectionObserver), or when the page is printed (all figures then); a page opened
 *     at an anchor goes there as soon as the anchor is parsed, not only once the page has loaded;
 *   - its layout is adapted to the width of its container *before* it is drawn (one render):
 *       . a grid of panels keeps every panel at least MIN_PANEL px wide: when the columns do not fit, the columns
 *         wrap into blocks stacked vertically (a column keeps its panels together) and the figure grows in height;
 *       . things placed outside the plotting area in "paper" units (notes, legends, buttons) keep their distance
 *         in pixels from the plotting area when the figure changes height;
 *       . a row of buttons wider than the figure becomes a drop-down menu;
 *       . on narrow screens a vertical legend moves below the figure as a horizontal one;
 *       . a figure with one legend per panel (qnn.plotting.style.legend_per_panel) keeps each legend by its panel.
 * On a window resize the layout is recomputed from the figure's original layout (the traces, and the active
 * button or slider step, are kept).
 */
(function () {
  "use strict";
  if (!window.Plotly || window.Plotly.__qnnWrapped) { return; }
  var NARROW = 700;                   // px: a figure narrower than this is laid out for a phone
  var MIN_PANEL = {wide: 175, narrow: 150};
  var GAP = 72, VGAP = 96;            // px between panels (tick labels, axis title, next panel title)
  var CHAR = 7.4, BUTTON_PAD = 26;    // estimated px per character of a 13 px label, and per button
  var NOTE_CHAR = 6.2;                // estimated px per character of an 11 px note
  var MODEBAR = 130;                  // px kept free at the top right for plotly's toolbar
  var DEFAULT_MARGIN = {l: 80, r: 80, t: 100, b: 80};

  function clone(value) { return JSON.parse(JSON.stringify(value === undefined ? null : value)); }
  function round(v) { return Math.round(v * 1e4) / 1e4; }

  function margins(layout) {
    var m = layout.margin || {};
    return {l: m.l !== undefined ? m.l : DEFAULT_MARGIN.l, r: m.r !== undefined ? m.r : DEFAULT_MARGIN.r,
            t: m.t !== undefined ? m.t : DEFAULT_MARGIN.t, b: m.b !== undefined ? m.b : DEFAULT_MARGIN.b};
  }

  /* The panels of a subplot grid: [{x: "xaxis2", y: "yaxis2", row, col}], with the grid's size. */
  function panelGrid(layout) {
    var panels = [];
    Object.keys(layout).forEach(function (key) {
      if (!/^xaxis\d*$/.test(key)) { return; }
      var xa = layout[key];
      if (!xa || !xa.domain || xa.overlaying) { return; }
      var yname = "yaxis" + String(xa.anchor || "y").slice(1);
      var ya = layout[yname];
      if (!ya || !ya.domain) { return; }
      panels.push({x: key, y: yname, xd: xa.domain.slice(), yd: ya.domain.slice()});
    });
    if (panels.length < 2) { return null; }
    var lefts = [], tops = [];
    panels.forEach(function (p) {
      if (lefts.indexOf(round(p.xd[0])) < 0) { lefts.push(round(p.xd[0])); }
      if (tops.indexOf(round(p.yd[1])) < 0) { tops.push(round(p.yd[1])); }
    });
    lefts.sort(function (a, b) { return a - b; });
    tops.sort(function (a, b) { return b - a; });
    panels.forEach(function (p) { p.col = lefts.indexOf(round(p.xd[0])); p.row = tops.indexOf(round(p.yd[1])); });
    return {panels: panels, rows: tops.length, cols: lefts.length};
  }

  function legendEntries(data) {
    var names = [];
    (data || []).forEach(function (trace) {
      if (trace.showlegend === false || trace.visible === false || !trace.name) { return; }  // as plotly lists them
      names.push(String(trace.name));
    });
    return names;
  }

  /* Rows needed by a horizontal legend of these names in `width` px. */
  function legendRows(names, width) {
    var rows = names.length ? 1 : 0, used = 0;
    names.forEach(function (name) {
      var w = 46 + CHAR * name.length;
      if (used > 0 && used + w > width) { rows += 1; used = 0; }
      used += w;
    });
    return rows;
  }

  /* A copy of `layout` adapted to a container `width` px wide (`data` only to size a legend). */
  function adapt(layout, data, width) {
    var out = clone(layout);
    var narrow = width < NARROW;
    var m = margins(out);
    var height0 = out.height || 450;
    var plotH0 = Math.max(height0 - m.t - m.b, 50);
    var plotW = Math.max(width - m.l - m.r, 50);
    var plotH = plotH0;
    var grid = panelGrid(out);
    var titleMoves = [];
    var cornerMoves = [];               // new top-right corners of the panels (a legend per panel moves there)
    var legendsInside = false;
    var panelLegends = Object.keys(out).filter(function (key) { return /^legend\d+$/.test(key); }).length > 0;

    if (grid && grid.cols > 1) {
      var minPanel = narrow ? MIN_PANEL.narrow : MIN_PANEL.wide;
      var cmax = Math.max(1, Math.floor((plotW + GAP) / (minPanel + GAP)));
      if (cmax < grid.cols) {
        var blocks = Math.ceil(grid.cols / cmax);
        var cols = Math.ceil(grid.cols / blocks);
        var rows = grid.rows * blocks;
        var panelW = (plotW - (cols - 1) * GAP) / cols;
        var vgap0 = grid.rows > 1 ? VGAP : 0;
        var panelH = (plotH0 - (grid.rows - 1) * vgap0) / grid.rows;
        panelH = Math.max(panelH, narrow ? 200 : 180);
        if (narrow) { panelH = Math.min(panelH, Math.max(200, 0.85 * panelW)); }
        plotH = rows * panelH + (rows - 1) * VGAP;
        if (panelLegends && out.meta && typeof out.meta.qnn_bottom_without_legends === "number") {
          /* legends below the panels move into the stacked panels' corners: their room below is given back */
          m.b = out.meta.qnn_bottom_without_legends;
          out.margin = Object.assign(out.margin || {}, {b: m.b});
          legendsInside = true;
        }
        grid.panels.forEach(function (p) {
          var col = p.col % cols;
          var row = Math.floor(p.col / cols) * grid.rows + p.row;
          var x0 = col * (panelW + GAP) / plotW, y1 = 1 - row * (panelH + VGAP) / plotH;
          var xd = [x0, Math.min(1, x0 + panelW / plotW)], yd = [Math.max(0, y1 - panelH / plotH), y1];
          titleMoves.push({from: [round((p.xd[0] + p.xd[1]) / 2), round(p.yd[1])], to: [(xd[0] + xd[1]) / 2, yd[1]]});
          cornerMoves.push({left: round(p.xd[0]), to: [xd[1], yd[1]]});
          out[p.x].domain = xd;
          out[p.y].domain = yd;
        });
        out.height = Math.round(plotH + m.t + m.b);
      }
    }

    /* paper-unit positions outside the plotting area keep their distance in pixels from it */
    function keepPixels(y) {
      if (typeof y !== "number") { return y; }
      if (y < 0) { return y * plotH0 / plotH; }
      if (y > 1) { return 1 + (y - 1) * plotH0 / plotH; }
      return y;
    }
    var names = legendEntries(data);
    if (panelLegends) {
      /* one legend per panel (qnn.plotting.style.legend_per_panel), below its panel; when the panels are stacked, in the
         panel's top-right corner instead (a column of legends between stacked panels would not fit a phone) */
      Object.keys(out).filter(function (key) { return /^legend\d*$/.test(key); }).forEach(function (key) {
        var legend = out[key];
        var moved = cornerMoves.filter(function (c) { return Math.abs(c.left - legend.x) < 2e-3; });
        if (legendsInside && moved.length) {
          Object.assign(legend, {x: moved[0].to[0], y: moved[0].to[1], xanchor: "right", yanchor: "top",
                                 bgcolor: "rgba(255,255,255,0.85)", bordercolor: "#ccc", borderwidth: 1});
        } else if (typeof legend.y === "number") {
          legend.y = keepPixels(legend.y);
        }
      });
    } else if (out.showlegend !== false && (!out.legend || out.legend.orientation !== "h") && names.length > 1) {
      /* a vertical legend that would squeeze a phone-sized figure or not fit beside the plot goes below it */
      if (narrow || 19 * names.length + 12 > plotH) {
        var legendH = 22 * legendRows(names, plotW + m.l + m.r - 10) + 8;
        out.legend = Object.assign(out.legend || {}, {orientation: "h", x: 0, xanchor: "left", y: -(m.b - 4) / plotH,
                                                      yanchor: "top", yref: "paper"});
        out.margin = Object.assign(out.margin || {}, {b: m.b + legendH, r: Math.min(m.r, 20)});
        out.height = Math.round(plotH + m.t + m.b + legendH);
      }
    } else if (out.legend && typeof out.legend.y === "number" && out.legend.yref !== "container") {
      out.legend.y = keepPixels(out.legend.y);
    }
    (out.annotations || []).forEach(function (a) {
      if ((a.xref || "paper") !== "paper" || (a.yref || "paper") !== "paper") { return; }
      /* a note below the figure (qnn.plotting.add_note) wider than a phone's figure breaks into two lines */
      var text = String(a.text || "");
      if (/note$/.test(a.name || "") && text.indexOf("<br>") < 0 && NOTE_CHAR * text.length > width - 16) {
        var cut = text.lastIndexOf(" ", Math.floor(text.length / 2) + 6);
        if (cut > 0) { a.text = text.slice(0, cut) + "<br>" + text.slice(cut + 1); }
      }
      var moved = titleMoves.filter(function (t) {
        return Math.abs(t.from[0] - a.x) < 2e-3 && Math.abs(t.from[1] - a.y) < 2e-3;
      });
      if (moved.length) {
        a.x = moved[0].to[0];
        a.y = moved[0].to[1];
      } else {
        a.y = keepPixels(a.y);
      }
    });
    (out.updatemenus || []).forEach(function (menu) {
      menu.y = keepPixels(menu.y);
      if ((menu.type || "dropdown") === "buttons" && (menu.direction || "left") === "right") {
        var needed = 0;
        (menu.buttons || []).forEach(function (b) { needed += BUTTON_PAD + CHAR * String(b.label || "").length; });
        var available = width - MODEBAR - (menu.x || 0) * plotW - (menu.xanchor === "left" || !menu.xanchor ? m.l : 0);
        if (needed > available) {
          menu.type = "dropdown";
          menu.direction = "down";
          menu.showactive = true;
        }
      }
    });
    (out.sliders || []).forEach(function (slider) {
      if (typeof slider.y === "number") { slider.y = keepPixels(slider.y); }
    });
    return out;
  }

  /* plotly's HTML sizes the figure's div and its wrapper for the original height: follow the adapted one */
  function setHeight(div, height) {
    if (!height) { return; }
    div.style.height = height + "px";
    var parent = div.parentElement;
    if (parent && parent.style && /px$/.test(parent.style.height || "")) { parent.style.height = height + "px"; }
  }

  function containerWidth(gd, layout) {
    if (layout && layout.width) { return layout.width; }
    var node = gd, width = 0;
    while (node && !width) { width = node.clientWidth; node = node.parentElement; }
    return width || 700;
  }

  /* A figure's shared template (qnn.plotting.embedding writes it once per page as window.qnnTemplates[KEY]; the figure
     carries {qnnShared: KEY}) is put back in place before plotly sees the layout. */
  function withTemplate(layout) {
    var ref = layout && layout.template;
    if (!ref || typeof ref.qnnShared !== "string") { return layout; }
    var shared = (window.qnnTemplates || {})[ref.qnnShared];
    if (!shared) {
      if (window.console) { console.error("qnn-figures: shared template " + ref.qnnShared + " is not defined"); }
      return layout;
    }
    var out = Object.assign({}, layout);
    out.template = shared;
    return out;
  }

  /* An array that qnn.plotting.embedding wrote once for several traces ({qnnSame: [trace, key]}) is put back in each. */
  function withSharedArrays(data) {
    if (!Array.isArray(data)) { return data; }
    return data.map(function (trace) {
      if (!trace || typeof trace !== "object") { return trace; }
      var out = null;
      Object.keys(trace).forEach(function (key) {
        var ref = trace[key] && trace[key].qnnSame;
        if (!Array.isArray(ref)) { return; }
        var source = data[ref[0]] && data[ref[0]][ref[1]];
        if (!source || source.qnnSame) {
          if (window.console) { console.error("qnn-figures: shared array " + ref + " is not defined"); }
          return;
        }
        out = out || Object.assign({}, trace);
        out[key] = Object.assign({}, source);
      });
      return out || trace;
    });
  }

  /* timings for the site's browser test: when plotly.js was ready, and when each figure was drawn
     (figures: [start, end, div id], in ms since the navigation started) */
  window.qnnTimings = {plotlyReady: window.performance ? performance.now() : 0, figures: []};
  var original = window.Plotly.newPlot;

  function draw(div, data, layout, config) {
    var start = window.performance ? performance.now() : 0;
    var result = original.call(window.Plotly, div, data, layout, config);
    var record = function () {
      div.setAttribute("data-qnn-drawn", "");
      window.qnnTimings.figures.push([start, performance.now(), div.id]);
    };
    if (result && typeof result.then === "function") { result.then(record); } else { record(); }
    return result;
  }

  /* Lazy drawing: a figure is drawn when it comes within a screen of the viewport (rootMargin: 100% of the
     viewport's height above and below); its div already has its final size, so nothing moves when it is drawn.
     Plotly.newPlot of a figure further away returns a promise that resolves when the figure is drawn. */
  var pending = [];
  var observer = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) { if (entry.isIntersecting) { drawPending(entry.target); } });
  }, {rootMargin: "100% 0px 100% 0px"}) : null;

  function drawPending(div) {
    var job = div.__qnnPending;
    if (!job) { return; }
    div.__qnnPending = null;
    div.removeAttribute("data-qnn-pending");
    if (observer) { observer.unobserve(div); }
    pending.splice(pending.indexOf(div), 1);
    var layout = job.layout;
    if (div.__qnnLayout) {  /* the width may have changed since the figure was announced */
      var width = containerWidth(div, div.__qnnLayout);
      if (Math.abs(width - div.__qnnWidth) >= 1) {
        div.__qnnWidth = width;
        layout = adapt(div.__qnnLayout, job.data, width);
        setHeight(div, layout.height);
      }
    }
    var result;
    try {
      result = draw(div, job.data, layout, job.config);
    } catch (error) {
      job.reject(error);
      throw error;
    }
    Promise.resolve(result).then(job.resolve, job.reject);
  }

  /* every figure not drawn yet, now (printing, or a reader's script that needs them all) */
  function drawAll() { pending.slice().forEach(drawPending); }
  window.qnnDrawAllFigures = drawAll;
  window.addEventListener("beforeprint", drawAll);
  if (window.matchMedia) {
    var print = window.matchMedia("print");
    var onPrint = function (query) { if (query.matches) { drawAll(); } };
    if (print.addEventListener) { print.addEventListener("change", onPrint); } else if (print.addListener) {
      print.addListener(onPrint);
    }
  }

  /* A page opened at an anchor (page.html#figure-6): the browser scrolls there only once the page has loaded (after
     MathJax and every script); the reader's figure is there as soon as the anchor is, so go there then (unless the
     reader has scrolled already); the browser's own scroll at the end lands on the same place. */
  var fragmentDone = false;
  function scrollToFragment() {
    if (fragmentDone || !location.hash || location.hash.length < 2) { return; }
    var target = null;
    try { target = document.getElementById(decodeURIComponent(location.hash.slice(1))); } catch (error) { return; }
    if (!target) { return; }
    fragmentDone = true;
    if (window.scrollY === 0 && target.scrollIntoView) { target.scrollIntoView(); }
  }
  document.addEventListener("DOMContentLoaded", scrollToFragment);

  window.Plotly.newPlot = function (gd, data, layout, config) {
    var div = typeof gd === "string" ? document.getElementById(gd) : gd;
    var figure = data && layout && !Array.isArray(data.data);
    if (figure) {
      data = withSharedArrays(data);
      layout = withTemplate(layout);
    }
    if (div && figure) {
      try {
        var width = containerWidth(div, layout);
        div.__qnnLayout = clone(layout);
        div.__qnnWidth = width;
        layout = adapt(layout, data, width);
        setHeight(div, layout.height);
      } catch (error) {
        if (window.console) { console.warn("qnn-figures: layout left as is", error); }
      }
    }
    scrollToFragment();
    if (!div || !figure || !observer || div.__qnnPending || div._fullLayout) {
      return div ? draw(div, data, layout, config) : original.call(this, gd, data, layout, config);
    }
    return new Promise(function (resolve, reject) {
      div.__qnnPending = {data: data, layout: layout, config: config, resolve: resolve, reject: reject};
      div.setAttribute("data-qnn-pending", "");
      pending.push(div);
      observer.observe(div);
    });
  };
  window.Plotly.__qnnWrapped = true;
  window.qnnAdaptLayout = adapt;

  function relayoutAll() {
    document.querySelectorAll(".plotly-graph-div").forEach(function (div) {
      if (!div.__qnnLayout) { return; }
      var width = containerWidth(div, div.__qnnLayout);
      if (Math.abs(width - div.__qnnWidth) < 40) { return; }
      if (div.__qnnPending) {  /* not drawn yet: keep its size right, draw it later */
        div.__qnnWidth = width;
        div.__qnnPending.layout = adapt(div.__qnnLayout, div.__qnnPending.data, width);
        setHeight(div, div.__qnnPending.layout.height);
        return;
      }
      if (!div._fullLayout) { return; }
      div.__qnnWidth = width;
      var layout = adapt(div.__qnnLayout, div.data, width);
      ["updatemenus", "sliders"].forEach(function (key) {
        (layout[key] || []).forEach(function (control, i) {
          var current = (div.layout[key] || [])[i];
          if (current && current.active !== undefined) { control.active = current.active; }
        });
      });
      setHeight(div, layout.height);
      window.Plotly.react(div, div.data, layout);
    });
  }
  var timer = null;
  window.addEventListener("resize", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(relayoutAll, 200);
  });
}());
