/* graph_page.js - the interactive link graph page (written by graph_html.c).
 *
 * Reads the graph from the JSON in <script id="graph-data">, draws the
 * positions computed in C at once on one canvas, and then lets the reader
 * zoom (wheel), pan (drag the background), drag nodes, search by URL
 * (matches are ringed and the view centres on them; Enter goes to the next
 * one), colour by depth or by status, and switch physics on.  The URL's
 * fragment may preset them: #search=blog&colour=status&physics.  Physics is
 * the C layout's model (springs, 1/d repulsion through a Barnes-Hut
 * quadtree, linear gravity), so the drawn layout is already its resting
 * state and switching it on only relaxes what a drag disturbed.
 *
 * Drawing batches edges into one path and nodes into one path per colour,
 * skipping nodes off screen, so 5,000 nodes redraw in a few milliseconds.
 * After the first frame the canvas carries data-drawn="<nodes drawn>";
 * while physics runs, data-physics-steps counts steps and data-step-ms and
 * data-draw-ms give the last frame's script time.
 */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var n = data.url.length;
  var X = new Float64Array(data.x), Y = new Float64Array(data.y);
  var E = new Int32Array(data.edges);
  var m = E.length / 2;
  var canvas = document.getElementById("graph");
  var ctx = canvas.getContext("2d");
  var tip = document.getElementById("tip");
  var legend = document.getElementById("legend");
  var info = document.getElementById("info");
  var search = document.getElementById("search");
  var physicsBox = document.getElementById("physics");
  var colourSelect = document.getElementById("colour");

  var DEPTH_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#9a6324", "#469990", "#808000"];
  var UNKNOWN = "#a0a0a0";
  var STATUS_CLASSES = [
    ["2xx", "#2ca02c"], ["3xx", "#1f77b4"], ["4xx", "#ff7f0e"],
    ["5xx", "#d62728"], ["failed", "#9467bd"], ["not fetched", UNKNOWN]];

  var view = { scale: 1, ox: 0, oy: 0 };
  var width = 0, height = 0, ratio = 1;
  var size = new Float64Array(n); /* radius factor from in-degree */
  var colourOf = new Array(n);
  var groups = {};                /* colour -> node indices */
  var matches = [], matchAt = -1;
  var hover = -1, dragNode = -1, panning = false, lastX = 0, lastY = 0;
  var dirty = true, physics = false, frames = 0, steps = 0;

  for (var i = 0; i < n; i++)
    size[i] = 1 + 0.4 * Math.sqrt(data.in_degree[i]);

  function statusClass(i) {
    var s = data.status[i];
    if (s >= 200 && s < 300) return 0;
    if (s >= 300 && s < 400) return 1;
    if (s >= 400 && s < 500) return 2;
    if (s >= 500 && s < 600) return 3;
    if (s === 0 && data.error[i] === null) return 5;
    return 4;
  }

  /* Assigns every node its colour and rebuilds the legend. */
  function recolour() {
    var mode = colourSelect.value, used = {}, i, key;
    groups = {};
    for (i = 0; i < n; i++) {
      var c;
      if (mode === "status") {
        key = statusClass(i);
        c = STATUS_CLASSES[key][1];
      } else {
        key = data.depth[i];
        c = key < 0 ? UNKNOWN : DEPTH_COLOURS[key % DEPTH_COLOURS.length];
      }
      used[key] = (used[key] || 0) + 1;
      colourOf[i] = c;
      (groups[c] = groups[c] || []).push(i);
    }
    var keys = Object.keys(used).map(Number).sort(function (a, b) {
      return (a < 0) - (b < 0) || a - b;
    });
    legend.textContent = "";
    var title = document.createElement("div");
    title.textContent = mode === "status" ? "HTTP status" : "link depth";
    legend.appendChild(title);
    keys.slice(0, 12).forEach(function (k) {
      var row = document.createElement("div"), sw = document.createElement("span");
      var label, colour;
      if (mode === "status") {
        label = STATUS_CLASSES[k][0];
        colour = STATUS_CLASSES[k][1];
      } else {
        label = k < 0 ? "unknown" : "depth " + k;
        colour = k < 0 ? UNKNOWN : DEPTH_COLOURS[k % DEPTH_COLOURS.length];
      }
      sw.className = "sw";
      sw.style.background = colour;
      row.appendChild(sw);
      row.appendChild(document.createTextNode(label + " (" + used[k] + ")"));
      legend.appendChild(row);
    });
    if (keys.length > 12) {
      var more = document.createElement("div");
      more.textContent = "... " + (keys.length - 12) + " more";
      legend.appendChild(more);
    }
    dirty = true;
  }

  function baseRadius() {
    return Math.min(8, Math.max(1.5, 0.2 * view.scale));
  }

  /* Fits the given nodes (all when null) into the window below the bar. */
  function fit(list) {
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    var count = list ? list.length : n;
    for (var k = 0; k < count; k++) {
      var i = list ? list[k] : k;
      x0 = Math.min(x0, X[i]); x1 = Math.max(x1, X[i]);
      y0 = Math.min(y0, Y[i]); y1 = Math.max(y1, Y[i]);
    }
    if (count === 0) { x0 = y0 = -1; x1 = y1 = 1; }
    var w = Math.max(x1 - x0, 4), h = Math.max(y1 - y0, 4), top = 48;
    view.scale = Math.min(width / w, (height - top) / h) * 0.92;
    view.ox = width / 2 - view.scale * (x0 + x1) / 2;
    view.oy = top + (height - top) / 2 - view.scale * (y0 + y1) / 2;
    dirty = true;
  }

  function resize() {
    ratio = window.devicePixelRatio || 1;
    width = canvas.clientWidth || window.innerWidth;
    height = canvas.clientHeight || window.innerHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    dirty = true;
  }

  function draw() {
    var s = view.scale, ox = view.ox, oy = view.oy, r0 = baseRadius();
    var i, k, drawn = 0;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    ctx.lineWidth = 1;
    ctx.strokeStyle = m > 2000 ? "rgba(90,90,90,0.18)" : "rgba(90,90,90,0.45)";
    ctx.beginPath();
    for (k = 0; k < m; k++) {
      var a = E[2 * k], b = E[2 * k + 1];
      if (a === b) continue;
      ctx.moveTo(X[a] * s + ox, Y[a] * s + oy);
      ctx.lineTo(X[b] * s + ox, Y[b] * s + oy);
    }
    ctx.stroke();
    for (var colour in groups) {
      var list = groups[colour];
      ctx.fillStyle = colour;
      ctx.beginPath();
      for (k = 0; k < list.length; k++) {
        i = list[k];
        var x = X[i] * s + ox, y = Y[i] * s + oy, r = r0 * size[i];
        if (x < -r || y < -r || x > width + r || y > height + r) continue;
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        drawn++;
      }
      ctx.fill();
    }
    if (matches.length || hover >= 0) {
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "#000000";
      ctx.beginPath();
      for (k = 0; k < matches.length; k++) ring(matches[k], r0 + 3);
      if (hover >= 0) ring(hover, r0 + 1.5);
      ctx.stroke();
    }
    if (frames++ === 0 || canvas.getAttribute("data-drawn") !== String(drawn))
      canvas.setAttribute("data-drawn", String(drawn));
    dirty = false;
  }

  function ring(i, extra) {
    var x = X[i] * view.scale + view.ox, y = Y[i] * view.scale + view.oy;
    var r = baseRadius() * size[i] + extra;
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, 2 * Math.PI);
  }

  /* The node under the screen point (x, y), or -1.  A linear scan: 5,000
   * distance tests take microseconds, less than keeping an index fresh
   * while physics moves everything. */
  function nodeAt(x, y) {
    var best = -1, bestD = Infinity, r0 = baseRadius();
    for (var i = 0; i < n; i++) {
      var dx = X[i] * view.scale + view.ox - x, dy = Y[i] * view.scale + view.oy - y;
      var d = dx * dx + dy * dy, r = r0 * size[i] + 2;
      if (d <= r * r && d < bestD) { best = i; bestD = d; }
    }
    return best;
  }

  function showTip(i, x, y) {
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = "";
    var url = document.createElement("div");
    url.className = "url";
    url.textContent = data.url[i];
    tip.appendChild(url);
    if (data.title[i] !== null) {
      var t = document.createElement("div");
      t.textContent = data.title[i];
      tip.appendChild(t);
    }
    var meta = document.createElement("div");
    meta.className = "meta";
    var status = data.status[i] ? "status " + data.status[i] : "not fetched";
    if (data.error[i] !== null) status += " - " + data.error[i];
    meta.textContent = status + (data.depth[i] >= 0 ? ", depth " + data.depth[i] : "") +
      ", " + data.in_degree[i] + " links in";
    tip.appendChild(meta);
    tip.hidden = false;
    tip.style.left = Math.min(x + 14, Math.max(0, width - tip.offsetWidth - 4)) + "px";
    tip.style.top = Math.min(y + 14, Math.max(0, height - tip.offsetHeight - 4)) + "px";
  }

  function pointer(ev) {
    var box = canvas.getBoundingClientRect();
    return [ev.clientX - box.left, ev.clientY - box.top];
  }

  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = pointer(ev), f = Math.exp(-ev.deltaY * 0.0015);
    view.ox = p[0] - (p[0] - view.ox) * f;
    view.oy = p[1] - (p[1] - view.oy) * f;
    view.scale *= f;
    dirty = true;
  }, { passive: false });

  canvas.addEventListener("mousedown", function (ev) {
    var p = pointer(ev);
    dragNode = nodeAt(p[0], p[1]);
    panning = dragNode < 0;
    lastX = p[0]; lastY = p[1];
    canvas.classList.add("dragging");
  });

  window.addEventListener("mousemove", function (ev) {
    var p = pointer(ev);
    if (dragNode >= 0) {
      X[dragNode] = (p[0] - view.ox) / view.scale;
      Y[dragNode] = (p[1] - view.oy) / view.scale;
      dirty = true;
    } else if (panning) {
      view.ox += p[0] - lastX;
      view.oy += p[1] - lastY;
      dirty = true;
    } else if (ev.target === canvas) {
      var h = nodeAt(p[0], p[1]);
      if (h !== hover) { hover = h; dirty = true; }
      showTip(h, p[0], p[1]);
    }
    lastX = p[0]; lastY = p[1];
  });

  window.addEventListener("mouseup", function () {
    dragNode = -1;
    panning = false;
    canvas.classList.remove("dragging");
  });

  canvas.addEventListener("mouseleave", function () {
    if (hover >= 0) { hover = -1; dirty = true; }
    tip.hidden = true;
  });

  /* Rings the nodes whose URL contains the query and centres the view on
   * the current one (all of them first). */
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    matches = [];
    matchAt = -1;
    if (q) {
      for (var i = 0; i < n; i++) {
        if (data.url[i].toLowerCase().indexOf(q) >= 0) {
          matches.push(i);
        }
      }
    }
    info.textContent = q ? matches.length + (matches.length === 1 ? " match" : " matches")
      : n + " pages, " + m + " links";
    search.setAttribute("data-matches", String(matches.length));
    if (matches.length) fit(matches);
    dirty = true;
  }

  function nextMatch() {
    if (!matches.length) return;
    matchAt = (matchAt + 1) % matches.length;
    var i = matches[matchAt];
    view.scale = Math.max(view.scale, 40);
    view.ox = width / 2 - X[i] * view.scale;
    view.oy = height / 2 - Y[i] * view.scale;
    dirty = true;
  }

  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") nextMatch();
  });
  colourSelect.addEventListener("change", recolour);
  physicsBox.addEventListener("change", function () {
    physics = physicsBox.checked;
    if (physics) requestAnimationFrame(frame);
  });
  window.addEventListener("resize", function () { resize(); });

  /* ---- physics: the C layout's forces, one cooled step per frame ---- */
  var MAX_DEPTH = 40, GRAVITY = 0.5, STEP = 0.25;
  var cap = 8 * n + 256; /* a step is skipped if the tree needs more */
  var cx0 = new Float64Array(cap), cy0 = new Float64Array(cap), csize = new Float64Array(cap);
  var cmx = new Float64Array(cap), cmy = new Float64Array(cap), cmass = new Float64Array(cap);
  var child = new Int32Array(4 * cap), first = new Int32Array(cap), leaf = new Uint8Array(cap);
  var nextBody = new Int32Array(n), ncells = 0;
  var adjStart = new Int32Array(n + 1), adj = new Int32Array(2 * m);
  var FX = new Float64Array(n), FY = new Float64Array(n), stack = new Int32Array(4 * MAX_DEPTH + 8);

  (function buildAdjacency() {
    var k, fill;
    for (k = 0; k < m; k++) {
      if (E[2 * k] === E[2 * k + 1]) continue;
      adjStart[E[2 * k] + 1]++;
      adjStart[E[2 * k + 1] + 1]++;
    }
    for (k = 0; k < n; k++) adjStart[k + 1] += adjStart[k];
    fill = adjStart.slice(0, n);
    for (k = 0; k < m; k++) {
      var a = E[2 * k], b = E[2 * k + 1];
      if (a === b) continue;
      adj[fill[a]++] = b;
      adj[fill[b]++] = a;
    }
  })();

  function newCell(x0, y0, s) {
    if (ncells === cap) return -1;
    var c = ncells++;
    cx0[c] = x0; cy0[c] = y0; csize[c] = s;
    child[4 * c] = child[4 * c + 1] = child[4 * c + 2] = child[4 * c + 3] = -1;
    first[c] = -1; leaf[c] = 1;
    return c;
  }

  function childOf(c, x, y) {
    var h = csize[c] / 2, q = (x >= cx0[c] + h ? 1 : 0) + (y >= cy0[c] + h ? 2 : 0);
    if (child[4 * c + q] < 0)
      child[4 * c + q] = newCell(cx0[c] + (q & 1) * h, cy0[c] + (q >> 1) * h, h);
    return child[4 * c + q];
  }

  function buildTree() {
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, i, c;
    for (i = 0; i < n; i++) {
      x0 = Math.min(x0, X[i]); x1 = Math.max(x1, X[i]);
      y0 = Math.min(y0, Y[i]); y1 = Math.max(y1, Y[i]);
    }
    ncells = 0;
    newCell(x0, y0, Math.max(x1 - x0, y1 - y0) * 1.0001 + 1e-9);
    for (i = 0; i < n; i++) {
      c = 0;
      for (var depth = 0; c >= 0; depth++) {
        if (!leaf[c]) { c = childOf(c, X[i], Y[i]); continue; }
        if (first[c] < 0 || depth >= MAX_DEPTH) {
          nextBody[i] = first[c]; first[c] = i; break;
        }
        var old = first[c];
        first[c] = -1; leaf[c] = 0;
        var k = childOf(c, X[old], Y[old]);
        if (k < 0) { c = -1; break; }
        first[k] = old; nextBody[old] = -1;
      }
      if (c < 0) return false; /* out of cells: skip this frame's step */
    }
    for (c = ncells - 1; c >= 0; c--) {
      var mx = 0, my = 0, mass = 0;
      if (leaf[c]) {
        for (var b = first[c]; b >= 0; b = nextBody[b]) { mx += X[b]; my += Y[b]; mass++; }
      } else {
        for (var q = 0; q < 4; q++) {
          var d = child[4 * c + q];
          if (d >= 0) { mx += cmx[d] * cmass[d]; my += cmy[d] * cmass[d]; mass += cmass[d]; }
        }
      }
      cmass[c] = mass;
      cmx[c] = mass ? mx / mass : 0;
      cmy[c] = mass ? my / mass : 0;
    }
    return true;
  }

  function physicsStep() {
    if (n < 2 || !buildTree()) return;
    canvas.setAttribute("data-physics-steps", String(++steps));
    var theta2 = 1.44, i, k; /* theta 1.2, as in C */
    for (i = 0; i < n; i++) {
      var xi = X[i], yi = Y[i], fx = 0, fy = 0, top = 0, dx, dy, d2;
      stack[top++] = 0;
      while (top > 0) {
        var c = stack[--top];
        if (leaf[c]) {
          for (var b = first[c]; b >= 0; b = nextBody[b]) {
            if (b === i) continue;
            dx = xi - X[b]; dy = yi - Y[b]; d2 = dx * dx + dy * dy;
            if (d2 < 1e-9) { dx = 1e-3 * ((i * 7 + b) % 5 - 2); dy = 1e-3; d2 = 1e-6; }
            fx += dx / d2; fy += dy / d2;
          }
          continue;
        }
        dx = xi - cmx[c]; dy = yi - cmy[c]; d2 = dx * dx + dy * dy;
        var inside = xi >= cx0[c] && xi < cx0[c] + csize[c] && yi >= cy0[c] && yi < cy0[c] + csize[c];
        if (!inside && csize[c] * csize[c] < theta2 * d2) {
          fx += dx * cmass[c] / d2; fy += dy * cmass[c] / d2;
          continue;
        }
        for (var q = 0; q < 4; q++) if (child[4 * c + q] >= 0) stack[top++] = child[4 * c + q];
      }
      for (k = adjStart[i]; k < adjStart[i + 1]; k++) {
        var j = adj[k];
        dx = X[j] - xi; dy = Y[j] - yi;
        var d = Math.sqrt(dx * dx + dy * dy);
        fx += dx * d; fy += dy * d;
      }
      FX[i] = fx - GRAVITY * xi;
      FY[i] = fy - GRAVITY * yi;
    }
    for (i = 0; i < n; i++) {
      if (i === dragNode) continue;
      var f = Math.sqrt(FX[i] * FX[i] + FY[i] * FY[i]);
      var s = f > STEP ? STEP / f : 1;
      if (f > 0 && isFinite(f)) { X[i] += FX[i] * s; Y[i] += FY[i] * s; }
    }
    dirty = true;
  }

  function frame() {
    var t0 = performance.now();
    if (physics) physicsStep();
    var t1 = performance.now();
    if (dirty) draw();
    canvas.setAttribute("data-step-ms", (t1 - t0).toFixed(1));
    canvas.setAttribute("data-draw-ms", (performance.now() - t1).toFixed(1));
    if (physics) requestAnimationFrame(frame);
  }

  /* Redraws lazily: every interaction marks the view dirty. */
  function idle() {
    if (!physics && dirty) draw();
    requestAnimationFrame(idle);
  }

  /* A link may carry a search or settings: #search=<text>&colour=status&physics */
  (function fromHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    if (params.has("search")) search.value = params.get("search");
    if (params.get("colour") === "status") colourSelect.value = "status";
    if (params.has("physics")) physicsBox.checked = physics = true;
  })();

  resize();
  recolour();
  fit(null);
  runSearch();
  draw();
  if (physics) requestAnimationFrame(frame);
  requestAnimationFrame(idle);
})();
