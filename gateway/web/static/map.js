/* The map of estates (the board's and the duty overview's): Apache ECharts (vendor/echarts, loaded the first
 * time a map is drawn) over the city's district outline shipped with the gateway (maps/, or [ui] map), so it
 * works on a closed network and loads nothing from elsewhere. Where [ui] amap_key is set, the dots are drawn
 * on AMap's streets instead (echarts-extension-amap, vendored; AMap's API from its servers), and on the
 * outline when AMap does not load in time. Each estate is a dot in its grade's colour (the colours of the
 * UI's stylesheet); an estate with an open fire alarm pulses, large and red, with its name.
 * A click opens the estate. Live events patch the dots (``updateEstate``): the series are set again by id,
 * at most once a frame, never the map. */
"use strict";

Object.assign(TEXT.zh, {
  "map.fire": "火警", "map.failed": "地图加载失败：",
  "map.no amap": "高德在线地图未能加载（网络不通或密钥无效），显示离线区划图。",
});
Object.assign(TEXT.en, {
  "map.fire": "FIRE", "map.failed": "The map could not be loaded: ",
  "map.no amap": "AMap's online map did not load (no network, or the key was refused): showing the offline outline.",
});

const MAP_NAME = "firegw-city";
const MAP_GRADES = ["red", "yellow", "green", "not_assessed", "unknown", "grey"];
/** The maps on screen: { chart, box, points: Map(id -> point) }. A map whose element left the page is let go. */
const liveMaps = new Set();
let echartsLoading = null;
let outlineLoading = null;
let mapInfoLoading = null;
let amapLoading = null;

/** ECharts, loaded once, when the first map is drawn (the board's first paint does not wait for 1 MB). */
function loadEcharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!echartsLoading) {
    echartsLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/echarts/echarts.min.js";
      script.onload = () => resolve(window.echarts);
      script.onerror = () => { echartsLoading = null; reject(new Error("echarts.min.js")); };
      document.head.appendChild(script);
    });
  }
  return echartsLoading;
}

/** ``GET /api/map``, asked once (background: the promise is shared by every map drawn after, so it is
 * answered whichever page asked first). */
function loadMapInfo() {
  if (!mapInfoLoading) {
    mapInfoLoading = api("/api/map", { background: true });
    mapInfoLoading.catch(() => { mapInfoLoading = null; });
  }
  return mapInfoLoading;
}

/** A script from ``src``, resolved when ``ready()`` says it has run; rejected on an error or after ``ms``. */
function loadScript(src, ms, ready) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    const timer = setTimeout(() => reject(new Error(`${new URL(src, location.href).host}: no answer in ${ms / 1000} s`)), ms);
    script.src = src;
    script.onload = () => { clearTimeout(timer); if (ready()) resolve(); else reject(new Error(`${src}: loaded, but not usable`)); };
    script.onerror = () => { clearTimeout(timer); reject(new Error(`${new URL(src, location.href).host}: not reachable`)); };
    document.head.appendChild(script);
  });
}

/** AMap's Web JS API 2.0 and the ECharts extension that draws on it, loaded once for the page's life where a
 * key is configured (a failure is kept too: each later map goes straight to the outline, not another wait). */
function loadAmap(amap) {
  if (!amapLoading) {
    amapLoading = (async () => {
      await loadEcharts();
      if (amap.security_code) window._AMapSecurityConfig = { securityJsCode: amap.security_code };
      await loadScript(`https://webapi.amap.com/maps?v=2.0&key=${encodeURIComponent(amap.key)}`, amap.timeout_s * 1000, () => window.AMap && window.AMap.Map);
      await loadScript("/static/vendor/echarts-extension-amap/echarts-extension-amap.min.js", 10000, () => true);
    })();
  }
  return amapLoading;
}

/** The district outline (``GET /api/map`` says which), registered with ECharts once: { city, geo }. */
function loadOutline() {
  if (!outlineLoading) {
    outlineLoading = (async () => {
      const [echarts, info] = await Promise.all([loadEcharts(), loadMapInfo()]);
      const response = await fetch(info.districts_url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`${info.districts_url}: HTTP ${response.status}`);
      const geo = await response.json();
      echarts.registerMap(MAP_NAME, geo);
      return { city: info.city, geo, anchors: "" };
    })();
    outlineLoading.catch(() => { outlineLoading = null; }); // tried again by the next map
  }
  return outlineLoading;
}

/** A district's name is drawn beside its estates, on the side away from the other districts' estates, not
 * at the middle of its outline (二七区's middle is farmland, far south of the old town its estates are in);
 * the outline is registered again when that moves. */
function anchorDistricts(outline, points) {
  const sums = new Map();
  for (const p of points) {
    if (!p.district) continue;
    const [n, lon, lat] = sums.get(p.district) || [0, 0, 0];
    sums.set(p.district, [n + 1, lon + p.lon, lat + p.lat]);
  }
  const centre = [points.reduce((a, p) => a + p.lon, 0) / points.length, points.reduce((a, p) => a + p.lat, 0) / points.length];
  const cps = new Map([...sums].map(([district, [n, lon, lat]]) => {
    const [x, y] = [lon / n, lat / n];
    const [dx, dy] = [x - centre[0], y - centre[1]];
    const away = Math.hypot(dx, dy) || 1; // 0.012° (about 1 km) outwards; straight up for a lone district
    return [district, sums.size > 1 ? [x + (dx / away) * 0.012, y + (dy / away) * 0.012] : [x, y + 0.008]];
  }));
  const anchors = [...cps].map(([d, [x, y]]) => `${d}:${x.toFixed(4)},${y.toFixed(4)}`).sort().join(";");
  if (anchors === outline.anchors) return;
  for (const feature of outline.geo.features) {
    const cp = cps.get(feature.properties.name);
    if (cp) feature.properties.cp = cp;
    else delete feature.properties.cp;
  }
  echarts.registerMap(MAP_NAME, outline.geo);
  outline.anchors = anchors;
}

const gradeOf = (e) => (typeof e.grade === "string" ? e.grade : e.grade ? e.grade.grade : "unknown");
const cssColour = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim() || fallback;

function mapPoint(e) {
  return {
    id: e.id, name: e.name, district: e.district, street: e.street, lon: e.longitude, lat: e.latitude,
    grade: gradeOf(e), label: e.grade && typeof e.grade === "object" ? e.grade.label : null, alarms: e.active_alarms || 0,
  };
}

/** The points' box, padded, as ECharts' ``boundingCoords`` (top-left, bottom-right). */
function pointBounds(points) {
  const lons = points.map((p) => p.lon), lats = points.map((p) => p.lat);
  const [x0, x1, y0, y1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const padX = Math.max((x1 - x0) * 0.12, 0.02), padY = Math.max((y1 - y0) * 0.12, 0.015);
  return [[x0 - padX, y1 + padY], [x1 + padX, y0 - padY]];
}

function mapTheme(dark) {
  return dark
    ? { area: "#10233a", hover: "#17324f", border: "#3b6ea3", label: "#9cc3ea", ring: "#0b1622", pale: "#dfe6ee" }
    : { area: "#eef2f6", hover: "#e2e9f0", border: "#90a4ae", label: "#455a64", ring: "#ffffff", pale: "#f5f7fa" };
}

function seriesData(m) {
  const colours = Object.fromEntries(MAP_GRADES.map((g) => [g, cssColour(g, "#9e9e9e")]));
  const calm = [], fire = [];
  for (const p of m.points.values()) {
    const notAssessed = p.grade === "not_assessed";
    const item = {
      id: p.id, name: p.name, value: [p.lon, p.lat], grade: p.grade, alarms: p.alarms,
      itemStyle: {
        color: notAssessed ? m.theme.pale : colours[p.grade] || colours.unknown,
        borderColor: notAssessed ? "#607d8b" : m.theme.ring, borderWidth: notAssessed ? 2 : 1.2,
        borderType: notAssessed ? "dashed" : "solid",
      },
    };
    if (p.alarms > 0) fire.push({ ...item, itemStyle: { color: "#ff1744", borderColor: "#fff", borderWidth: 2 } });
    else calm.push(item);
  }
  const rank = (d) => MAP_GRADES.length - MAP_GRADES.indexOf(d.grade); // red drawn last, on top
  calm.sort((a, b) => rank(a) - rank(b));
  // A burning estate's name goes to its right, or to its left when another burning estate is close on its
  // right (within about a label's width and height): two neighbours' names point away from each other.
  const [wide, high] = [m.span[0] * 0.15, m.span[1] * 0.06];
  for (const d of fire) {
    const crowded = fire.some((o) => o !== d && o.value[0] >= d.value[0] && o.value[0] - d.value[0] < wide &&
      Math.abs(o.value[1] - d.value[1]) < high && (o.value[0] > d.value[0] || o.id > d.id));
    d.label = { position: crowded ? "left" : "right" };
  }
  return { calm, fire };
}

function mapSeries(m) {
  const { calm, fire } = seriesData(m);
  const size = Math.round(10 * m.scale);
  return [
    { id: "estates", type: "scatter", coordinateSystem: m.base === "amap" ? "amap" : "geo", symbolSize: size, z: 3, data: calm,
      emphasis: { scale: 1.6 } },
    { id: "alarms", type: "effectScatter", coordinateSystem: m.base === "amap" ? "amap" : "geo", symbolSize: size * 2, z: 5, data: fire,
      showEffectOn: "render", rippleEffect: { brushType: "fill", scale: 4, period: 1.2, number: 3 },
      label: { show: true, distance: 8, formatter: (p) => `${t("map.fire")} · ${p.name}`,
        color: "#fff", backgroundColor: "#d50000", padding: [3, 6], borderRadius: 3, fontWeight: "bold",
        fontSize: Math.round(12 * m.scale) } },
  ];
}

function mapTooltip(params) {
  const d = params.data;
  if (!d || !d.id) return esc(params.name);
  const p = [...liveMaps].map((m) => m.points.get(d.id)).find(Boolean) || {};
  const grade = p.label ? pick(p.label) : t("grade." + d.grade);
  const alarm = d.alarms > 0 ? `<br><b style="color:#ff5252">${esc(t("map.fire"))} ${d.alarms}</b>` : "";
  return `<b>${esc(d.name)}</b> <span style="opacity:.7">${esc(d.id)}</span><br>${esc(grade)} · ${esc([p.district, p.street].filter(Boolean).join(" "))}${alarm}`;
}

/** Draw ``estates`` (board entries, or anything with id, name, latitude, longitude, grade, active_alarms) on
 * a map in ``el``, under ``heading`` if given; ``dark`` for the overview's dark screen, ``scale`` for a wall
 * screen's bigger dots and type (1: the board's). Resolves to the map, or null if none was drawn. */
async function estateMap(el, estates, { heading = "", dark = false, scale = 1 } = {}) {
  const placed = estates.filter((e) => e.latitude != null && e.longitude != null);
  if (!placed.length) { el.innerHTML = ""; return null; }
  el.innerHTML = `${heading ? `<h2>${esc(heading)}</h2>` : ""}<div class="estate-map${dark ? " dark" : ""}" data-testid="estate-map" data-state="loading">
    <p class="muted map-wait">${esc(t("loading"))}</p></div>`;
  const box = el.lastElementChild;
  let info, base = "outline", outline = null, amapFailure = "";
  try {
    info = await loadMapInfo();
    if (info.amap) {
      try {
        await loadAmap(info.amap);
        base = "amap";
      } catch (err) { amapFailure = err.message; }
    }
    if (base === "outline") outline = await loadOutline();
  } catch (err) {
    box.dataset.state = "failed";
    box.innerHTML = `<p class="error">${esc(t("map.failed"))}${esc(err.message)}</p>`;
    return null;
  }
  if (!box.isConnected) return null;
  pruneMaps();
  const m = { box, scale, base, theme: mapTheme(dark), points: new Map(placed.map((e) => [e.id, mapPoint(e)])), queued: false };
  const bounds = pointBounds([...m.points.values()]);
  m.span = [bounds[1][0] - bounds[0][0], bounds[0][1] - bounds[1][1]];
  box.innerHTML = "";
  m.chart = echarts.init(box, null, { renderer: "canvas" });
  const tooltip = { trigger: "item", formatter: mapTooltip, confine: true };
  if (base === "amap") {
    // The view is given as centre and zoom in the option, not by AMap's setBounds: the extension sets the
    // option's centre and zoom again at each update (a live dot, a resize), which would undo it.
    m.chart.setOption({
      amap: { viewMode: "2D", ...fitView(bounds, box), resizeEnable: true, renderOnMoving: true,
        echartsLayerInteractive: true, mapStyle: dark ? "amap://styles/darkblue" : "amap://styles/normal" },
      tooltip, series: mapSeries(m),
    });
  } else {
    if (amapFailure) {
      box.insertAdjacentHTML("beforebegin", `<p class="muted map-note" data-testid="map-note" title="${esc(amapFailure)}">${esc(t("map.no amap"))}</p>`);
    }
    anchorDistricts(outline, [...m.points.values()]);
    // Only the districts with estates are named: the others lie mostly outside the estates' view, and their
    // names would be cut at its edge ("…市").
    const named = new Set([...m.points.values()].map((p) => p.district));
    const unnamed = outline.geo.features.map((f) => f.properties.name).filter((name) => !named.has(name));
    const lat = placed.reduce((sum, e) => sum + e.latitude, 0) / placed.length;
    m.chart.setOption({
      backgroundColor: "transparent",
      tooltip,
      geo: {
        map: MAP_NAME, roam: true, boundingCoords: bounds, scaleLimit: { min: 0.5, max: 12 },
        aspectScale: Math.cos((lat * Math.PI) / 180), // degrees of longitude are shorter than of latitude
        label: { show: true, color: m.theme.label, fontSize: Math.round(12 * scale) },
        itemStyle: { areaColor: m.theme.area, borderColor: m.theme.border, borderWidth: 1 },
        emphasis: { itemStyle: { areaColor: m.theme.hover }, label: { color: m.theme.label } },
        select: { disabled: true }, tooltip: { show: false },
        regions: unnamed.map((name) => ({ name, label: { show: false }, emphasis: { label: { show: false } } })),
      },
      series: mapSeries(m),
    });
  }
  m.chart.on("click", (params) => {
    if (params.data && params.data.id) location.hash = `#/estate/${encodeURIComponent(params.data.id)}`;
  });
  m.resized = new ResizeObserver(() => m.chart.resize());
  m.resized.observe(box);
  liveMaps.add(m);
  box.dataset.state = "ready";
  box.dataset.base = base;
  box.dataset.city = info.city;
  return m;
}

/** The centre and zoom (Web Mercator, 256-pixel tiles, as AMap's) at which ``bounds`` (pointBounds) fills
 * ``box``. */
function fitView(bounds, box) {
  const [[west, north], [east, south]] = bounds;
  const mercator = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) / (2 * Math.PI); // of the world
  const wide = (east - west) / 360, high = mercator(north) - mercator(south);
  const zoom = Math.log2(Math.min(box.clientWidth / (256 * wide), box.clientHeight / (256 * high)));
  return { center: [(west + east) / 2, (north + south) / 2], zoom: Math.max(3, Math.min(18, Math.floor(zoom * 10) / 10)) };
}

function pruneMaps() {
  for (const m of [...liveMaps]) {
    if (!m.box.isConnected) { liveMaps.delete(m); m.resized.disconnect(); m.chart.dispose(); }
  }
}

/** A live change to one estate (its grade, its open alarms: any of ``grade``, ``active_alarms``) on every map
 * that shows it. */
function updateEstate(estate) {
  pruneMaps();
  for (const m of liveMaps) {
    const p = m.points.get(estate.id);
    if (!p) continue;
    if (estate.grade !== undefined) {
      p.grade = gradeOf(estate);
      if (estate.grade && typeof estate.grade === "object") p.label = estate.grade.label;
    }
    if (estate.active_alarms !== undefined) p.alarms = estate.active_alarms;
    if (!m.queued) {
      m.queued = true;
      requestAnimationFrame(() => { m.queued = false; if (m.box.isConnected) m.chart.setOption({ series: mapSeries(m) }); });
    }
  }
}
