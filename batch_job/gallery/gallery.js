"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const data = window.MASKALBUM_DATA;
  if (!data || !Array.isArray(data.rows)) {
    const notice = $("notice");
    notice.hidden = false;
    notice.textContent = "gallery-data.js is missing beside this page: run `maskalbum gallery` on this folder.";
    return;
  }
  const CHUNK = 120; // cards added per step; the rest follow as the page scrolls
  const col = Object.fromEntries(data.columns.map((c, i) => [c, i]));
  const fcol = Object.fromEntries(data.faceColumns.map((c, i) => [c, i]));
  const ACTION_TEXT = { replaced: "replaced", left_bare: "left bare", too_small: "too small" };

  const photos = data.rows.map((r, index) => {
    const faces = r[r.length - 1].map((f) => ({
      face: f[fcol.face], x: f[fcol.x], y: f[fcol.y], w: f[fcol.w], h: f[fcol.h], action: f[fcol.action],
      mask: f[fcol.mask], row: f,
    }));
    const p = {
      index, row: r, path: r[col.path], output: r[col.output], status: r[col.status], reason: r[col.reason],
      width: r[col.width], height: r[col.height], masked: r[col.faces_masked] || 0, found: r[col.faces_found] || 0,
      thumbs: r[r.length - 2], faces,
    };
    p.bare = faces.filter((f) => f.action === "left_bare").length;
    p.small = faces.filter((f) => f.action === "too_small").length;
    p.changed = p.masked > 0;
    return p;
  });

  // Paths may hold spaces, '#', '%' or any script: encode each segment for the URL.
  const url = (path) => path.split("/").map(encodeURIComponent).join("/");
  const afterSrc = (p) => (p.thumbs & 1 ? url("thumbs/after/" + p.output + ".jpg") : url("images/" + p.output));
  const beforeSrc = (p) => (p.thumbs & 2 ? url("thumbs/before/" + p.output + ".jpg") : null);
  const baseName = (path) => path.slice(path.lastIndexOf("/") + 1);
  const plural = (n, one, many) => `${n.toLocaleString()} ${n === 1 ? one : many || one + "s"}`;

  const FILTERS = [
    { id: "all", label: "All photos", test: (p) => p.status !== "skipped" },
    { id: "masked", label: "Masked", test: (p) => p.masked > 0 },
    { id: "left_bare", label: "Faces left bare", test: (p) => p.bare > 0 },
    { id: "no_faces", label: "No faces", test: (p) => p.status === "no_faces" },
    { id: "error", label: "Errors", test: (p) => p.status === "error" },
    { id: "skipped", label: "Other files", test: (p) => p.status === "skipped" },
  ];

  const state = { filter: "all", list: [], shown: 0, faces: false, viewer: -1, split: 50 };
  const grid = $("grid");

  // -- summary and filters ---------------------------------------------------------------------------
  const c = data.counts;
  const parts = [`<b>${plural(c.photos, "photo")}</b>`];
  if (c.masks) parts.push(`<b>${plural(c.masks, "monster mask")}</b> on ${plural(c.masked, "photo")}`);
  if (c.left_bare) parts.push(`${plural(c.left_bare, "photo")} with faces left bare`);
  if (c.no_faces) parts.push(`${c.no_faces.toLocaleString()} without faces`);
  if (c.error) parts.push(`<b style="color:var(--error)">${plural(c.error, "error")}</b>`);
  if (c.skipped) parts.push(`${plural(c.skipped, "other file")} skipped`);
  $("summary").innerHTML = parts.join(" · ");

  const filterBar = $("filters");
  for (const f of FILTERS) {
    const n = photos.filter(f.test).length;
    if (f.id === "skipped" && !n) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.dataset.filter = f.id;
    b.setAttribute("aria-pressed", "false");
    b.disabled = n === 0 && f.id !== "all";
    b.append(f.label);
    const count = document.createElement("span");
    count.className = "n";
    count.textContent = n.toLocaleString();
    b.append(count);
    b.addEventListener("click", () => setFilter(f.id));
    filterBar.append(b);
  }

  function setFilter(id) {
    const f = FILTERS.find((x) => x.id === id) || FILTERS[0];
    state.filter = f.id;
    for (const b of filterBar.querySelectorAll(".chip")) b.setAttribute("aria-pressed", String(b.dataset.filter === f.id));
    state.list = photos.filter(f.test);
    state.shown = 0;
    grid.replaceChildren();
    renderMore();
    fill();
    $("empty").hidden = state.list.length > 0;
    if (location.hash.slice(1) !== (f.id === "all" ? "" : f.id)) history.replaceState(null, "", f.id === "all" ? location.pathname : "#" + f.id);
  }

  // -- cards -----------------------------------------------------------------------------------------
  function boxes(p, container) {
    container.replaceChildren();
    if (!p.width || !p.height) return;
    for (const f of p.faces) {
      const b = document.createElement("div");
      b.className = "box " + f.action;
      b.style.left = (100 * f.x) / p.width + "%";
      b.style.top = (100 * f.y) / p.height + "%";
      b.style.width = (100 * f.w) / p.width + "%";
      b.style.height = (100 * f.h) / p.height + "%";
      const label = document.createElement("span");
      label.textContent = f.action === "replaced" && f.mask ? f.mask : ACTION_TEXT[f.action] || f.action;
      b.append(label);
      container.append(b);
    }
  }

  function badge(cls, text) {
    const s = document.createElement("span");
    s.className = "badge " + cls;
    s.textContent = text;
    return s;
  }

  function card(p, position) {
    const fig = document.createElement("figure");
    fig.className = "card " + p.status;
    fig.tabIndex = position === 0 ? 0 : -1;
    fig.setAttribute("role", "listitem");
    fig.dataset.index = String(p.index);
    fig.dataset.position = String(position);
    const hasImage = Boolean(p.output);
    const ratio = hasImage && p.width && p.height ? p.width / p.height : 4 / 3;
    fig.style.flex = `${ratio} ${ratio} calc(var(--row) * ${ratio.toFixed(4)})`;
    const pic = document.createElement("div");
    pic.className = "pic";
    pic.style.paddingBottom = (100 / ratio).toFixed(3) + "%";
    if (hasImage) {
      const after = new Image();
      after.className = "after";
      after.loading = "lazy";
      after.decoding = "async";
      after.alt = p.path;
      after.src = afterSrc(p);
      pic.append(after);
      const before = beforeSrc(p);
      if (p.changed && before) {
        const img = new Image();
        img.className = "before";
        img.loading = "lazy";
        img.decoding = "async";
        img.alt = "";
        img.src = before;
        pic.append(img);
        const hold = document.createElement("span");
        hold.className = "hold";
        hold.textContent = "hold: before";
        pic.append(hold);
      }
      const layer = document.createElement("div");
      layer.className = "boxes";
      if (state.faces) boxes(p, layer);
      pic.append(layer);
    } else {
      const ph = document.createElement("div");
      ph.className = "placeholder";
      const strong = document.createElement("strong");
      strong.textContent = p.status === "error" ? "Not processed" : "Skipped";
      const reason = document.createElement("span");
      reason.textContent = p.reason;
      ph.append(strong, reason);
      pic.append(ph);
    }
    const cap = document.createElement("figcaption");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = baseName(p.path);
    name.title = p.path;
    const badges = document.createElement("span");
    badges.className = "badges";
    if (p.status === "error") badges.append(badge("error", "error"));
    if (p.masked) badges.append(badge("replaced", `${p.masked} masked`));
    if (p.bare) badges.append(badge("left_bare", `${p.bare} bare`));
    if (p.status === "no_faces") badges.append(badge("plain", "no faces"));
    cap.append(name, badges);
    fig.append(pic, cap);
    return fig;
  }

  function renderMore() {
    const end = Math.min(state.list.length, state.shown + CHUNK);
    if (end <= state.shown) return;
    const frag = document.createDocumentFragment();
    for (let i = state.shown; i < end; i++) frag.append(card(state.list[i], i));
    grid.append(frag);
    state.shown = end;
  }

  // The observer only speaks when the sentinel crosses the margin; on a tall screen one chunk may not
  // push it out again, so keep adding until it is out of reach.
  const AHEAD = 1200;
  function fill() {
    const more = $("more");
    while (state.shown < state.list.length && more.getBoundingClientRect().top < innerHeight + AHEAD) renderMore();
  }
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) fill();
  }, { rootMargin: `${AHEAD}px 0px` }).observe($("more"));

  // -- faces toggle ----------------------------------------------------------------------------------
  function setFaces(on) {
    state.faces = on;
    for (const b of [$("faces-toggle"), $("v-faces")]) b.setAttribute("aria-pressed", String(on));
    $("legend").hidden = !on;
    for (const fig of grid.children) {
      const layer = fig.querySelector(".boxes");
      if (layer) on ? boxes(photos[+fig.dataset.index], layer) : layer.replaceChildren();
    }
    if (state.viewer >= 0) on ? boxes(photos[state.viewer], $("v-boxes")) : $("v-boxes").replaceChildren();
  }
  $("faces-toggle").addEventListener("click", () => setFaces(!state.faces));
  $("v-faces").addEventListener("click", () => setFaces(!state.faces));

  // -- press and hold to compare in the grid; click opens the viewer ------------------------------------
  let held = null;
  let heldLong = false;
  let holdTimer = 0;
  const release = () => {
    clearTimeout(holdTimer);
    if (held) held.classList.remove("holding");
    held = null;
  };
  grid.addEventListener("pointerdown", (e) => {
    const fig = e.target.closest(".card");
    if (!fig || e.button > 0) return;
    heldLong = false;
    if (fig.querySelector("img.before")) {
      held = fig;
      fig.classList.add("holding");
      holdTimer = setTimeout(() => { heldLong = true; }, 280);
    }
  });
  for (const type of ["pointerup", "pointercancel", "pointerleave"]) grid.addEventListener(type, release, true);
  grid.addEventListener("contextmenu", (e) => { if (e.target.closest(".pic")) e.preventDefault(); });
  grid.addEventListener("click", (e) => {
    const fig = e.target.closest(".card");
    if (!fig) return;
    if (heldLong) { heldLong = false; return; } // that was a look at the before, not a click
    focusCard(+fig.dataset.position);
    openViewer(+fig.dataset.position);
  });

  // -- keyboard in the grid --------------------------------------------------------------------------
  function focusCard(position) {
    if (!state.list.length) return;
    position = Math.max(0, Math.min(state.list.length - 1, position));
    while (position >= state.shown) renderMore();
    const target = grid.children[position];
    for (const fig of grid.querySelectorAll(".card[tabindex='0']")) fig.tabIndex = -1;
    target.tabIndex = 0;
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "nearest" });
  }

  function rowNeighbour(position, down) {
    // The card in the next row whose centre is closest to this one's.
    const cards = grid.children;
    const here = cards[position].getBoundingClientRect();
    const centre = here.left + here.width / 2;
    const step = down ? 1 : -1;
    let rowTop = null;
    let best = -1;
    let bestDx = Infinity;
    if (down && position + 1 >= state.shown) renderMore();
    for (let i = position + step; i >= 0 && i < state.shown; i += step) {
      const r = cards[i].getBoundingClientRect();
      const other = down ? r.top > here.top + 1 : r.top < here.top - 1;
      if (!other) continue;
      if (rowTop === null) rowTop = r.top;
      if (Math.abs(r.top - rowTop) > 1) break;
      const dx = Math.abs(r.left + r.width / 2 - centre);
      if (dx < bestDx) { best = i; bestDx = dx; }
    }
    return best < 0 ? position : best;
  }

  grid.addEventListener("keydown", (e) => {
    const fig = e.target.closest(".card");
    if (!fig || e.altKey || e.ctrlKey || e.metaKey) return;
    const pos = +fig.dataset.position;
    const moves = { ArrowRight: pos + 1, ArrowLeft: pos - 1, Home: 0, End: state.list.length - 1 };
    if (e.key in moves) focusCard(moves[e.key]);
    else if (e.key === "ArrowDown") focusCard(rowNeighbour(pos, true));
    else if (e.key === "ArrowUp") focusCard(rowNeighbour(pos, false));
    else if (e.key === "Enter" || e.key === " ") openViewer(pos);
    else if ((e.key === "b" || e.key === "B") && fig.querySelector("img.before")) fig.classList.add("holding");
    else return;
    e.preventDefault();
  });
  grid.addEventListener("keyup", (e) => {
    if (e.key === "b" || e.key === "B") for (const fig of grid.querySelectorAll(".holding")) fig.classList.remove("holding");
  });

  // -- the viewer --------------------------------------------------------------------------------------
  const viewer = $("viewer");
  const frame = $("v-frame");
  let lastFocus = null;

  function setSplit(value) {
    state.split = Math.max(0, Math.min(100, value));
    $("v-after").style.clipPath = `inset(0 0 0 ${state.split}%)`;
    $("v-divider").style.left = state.split + "%";
    $("v-slider").value = String(state.split);
    $("v-swap").setAttribute("aria-pressed", String(state.split >= 100));
  }

  function row(table, label, value) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = label;
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined ? "" : String(value);
    tr.append(th, td);
    table.append(tr);
  }

  function openViewer(position) {
    if (position < 0 || position >= state.list.length) return;
    const p = state.list[position];
    if (viewer.hidden) lastFocus = document.activeElement;
    state.viewer = p.index;
    state.position = position;
    viewer.hidden = false;
    document.body.style.overflow = "hidden";
    $("v-title").textContent = p.path;
    const status = $("v-status");
    status.className = "v-status" + (p.status === "error" ? " error" : "");
    const words = { ok: p.masked ? `${plural(p.masked, "mask")} painted` : "no mask to replace", no_faces: "no faces found", skipped: "skipped", error: "error" };
    status.textContent = (words[p.status] || p.status) + (p.reason ? ": " + p.reason : "") +
      (p.found ? ` · ${plural(p.found, "face")} found` : "") + (p.bare ? ` · ${p.bare} left bare` : "");
    const hasImage = Boolean(p.output);
    frame.hidden = !hasImage;
    $("v-placeholder").hidden = hasImage;
    const before = beforeSrc(p);
    const compare = hasImage && p.changed && before;
    frame.classList.toggle("single", !compare);
    $("v-controls").hidden = !compare;
    $("v-swap").hidden = !compare;
    $("v-faces").hidden = !p.faces.length;
    if (hasImage) {
      // The bottom image sizes the frame; with nothing to compare it shows the photo itself.
      $("v-before").src = compare ? before : afterSrc(p);
      $("v-before").alt = compare ? "before" : p.path;
      $("v-after").src = compare ? afterSrc(p) : "";
      if (!compare) $("v-after").removeAttribute("src");
      $("v-full").href = url("images/" + p.output);
      $("v-full").hidden = false;
    } else {
      $("v-placeholder").replaceChildren();
      const strong = document.createElement("strong");
      strong.textContent = p.status === "error" ? "Not processed" : "Skipped";
      $("v-placeholder").append(strong, p.reason || "");
      $("v-full").hidden = true;
    }
    setSplit(50);
    state.faces ? boxes(p, $("v-boxes")) : $("v-boxes").replaceChildren();
    const table = $("v-row");
    table.replaceChildren();
    data.columns.forEach((name, i) => row(table, name, p.row[i]));
    const ft = $("v-faces-table");
    ft.replaceChildren();
    if (p.faces.length) {
      const head = document.createElement("tr");
      for (const h of ["face", "action", "mask", "size (px)"]) {
        const th = document.createElement("th");
        th.textContent = h;
        head.append(th);
      }
      ft.append(head);
      for (const f of p.faces) {
        const tr = document.createElement("tr");
        const action = document.createElement("td");
        action.className = "action";
        const dot = document.createElement("span");
        dot.className = "dot";
        dot.style.background = `var(--${f.action})`;
        action.append(dot, ACTION_TEXT[f.action] || f.action);
        const cells = [f.face, null, f.mask || "–", `${f.w}×${f.h}`];
        cells.forEach((v, i) => {
          if (i === 1) return tr.append(action);
          const td = document.createElement("td");
          td.textContent = String(v);
          tr.append(td);
        });
        ft.append(tr);
      }
    }
    $("v-prev").disabled = position === 0;
    $("v-next").disabled = position === state.list.length - 1;
    $("v-close").focus({ preventScroll: true });
  }

  function closeViewer() {
    viewer.hidden = true;
    state.viewer = -1;
    document.body.style.overflow = "";
    if (state.position !== undefined) focusCard(state.position);
    else if (lastFocus) lastFocus.focus();
  }

  function step(delta) {
    const next = state.position + delta;
    if (next >= 0 && next < state.list.length) {
      openViewer(next);
      if (next >= state.shown - 1) renderMore();
    }
  }

  $("v-close").addEventListener("click", closeViewer);
  $("v-prev").addEventListener("click", () => step(-1));
  $("v-next").addEventListener("click", () => step(1));
  $("v-swap").addEventListener("click", () => setSplit(state.split >= 100 ? 0 : 100));
  $("v-slider").addEventListener("input", (e) => setSplit(+e.target.value));

  // Drag (mouse, pen or finger) across the photo to move the divider.
  let dragging = false;
  const dragTo = (e) => {
    const r = frame.getBoundingClientRect();
    setSplit((100 * (e.clientX - r.left)) / r.width);
  };
  frame.addEventListener("pointerdown", (e) => {
    if (frame.classList.contains("single")) return;
    dragging = true;
    frame.setPointerCapture(e.pointerId);
    dragTo(e);
  });
  frame.addEventListener("pointermove", (e) => { if (dragging) dragTo(e); });
  frame.addEventListener("pointerup", () => { dragging = false; });
  frame.addEventListener("pointercancel", () => { dragging = false; });

  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const inViewer = !viewer.hidden;
    if (e.key === "f" || e.key === "F") {
      if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
      setFaces(!state.faces);
      e.preventDefault();
      return;
    }
    if (!inViewer) return;
    if (e.key === "Escape") closeViewer();
    else if (e.key === "ArrowLeft" && e.target !== $("v-slider")) step(-1);
    else if (e.key === "ArrowRight" && e.target !== $("v-slider")) step(1);
    else if ((e.key === "b" || e.key === "B") && !frame.classList.contains("single")) setSplit(state.split >= 100 ? 0 : 100);
    else if (e.key === "Tab") {
      // Keep focus inside the dialog.
      const items = [...viewer.querySelectorAll("button:not([hidden]):not(:disabled), a[href]:not([hidden]), input:not([hidden])")]
        .filter((el) => el.offsetParent !== null);
      const i = items.indexOf(document.activeElement);
      const next = items[(i + (e.shiftKey ? -1 : 1) + items.length) % items.length];
      if (next) next.focus();
    } else return;
    e.preventDefault();
  });

  // -- start ---------------------------------------------------------------------------------------------
  const start = location.hash.slice(1);
  setFilter(FILTERS.some((f) => f.id === start) ? start : "all");
  window.MASKALBUM_READY = true;
})();
