/* Charts and the map, as inline SVG (no library, nothing fetched). */
"use strict";

// ---- charts and map (inline SVG) -------------------------------------------------------------------------

function lineChart(points, { width = 640, height = 180, min = null, max = null, lines = [] } = {}) {
  if (!points.length) return `<p class="muted">—</p>`;
  const xs = points.map((p) => new Date(p[0]).getTime());
  const ys = points.map((p) => p[1]);
  const lo = Math.min(...ys, ...lines.map((l) => l.value), min ?? Infinity);
  const hi = Math.max(...ys, ...lines.map((l) => l.value), max ?? -Infinity);
  const pad = 28, x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1, span = (hi - lo) || 1;
  const X = (x) => pad + ((x - x0) / ((x1 - x0) || 1)) * (width - 2 * pad);
  const Y = (y) => height - pad - ((y - lo) / span) * (height - 2 * pad);
  const path = points.map((p, i) => `${i ? "L" : "M"}${X(xs[i]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
  const guides = lines.map((l) => `<line x1="${pad}" x2="${width - pad}" y1="${Y(l.value)}" y2="${Y(l.value)}" stroke="${l.color}" stroke-dasharray="4 3"/>
      <text x="${width - pad}" y="${Y(l.value) - 3}" font-size="10" text-anchor="end" fill="${l.color}">${esc(l.label)}</text>`).join("");
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    <text x="4" y="${Y(hi) + 4}" font-size="10">${hi.toFixed(2)}</text><text x="4" y="${Y(lo)}" font-size="10">${lo.toFixed(2)}</text>
    <text x="${pad}" y="${height - 6}" font-size="10">${esc(fmtTime(points[0][0]))}</text>
    <text x="${width - pad}" y="${height - 6}" font-size="10" text-anchor="end">${esc(fmtTime(points[points.length - 1][0]))}</text>
    ${guides}<path d="${path}" fill="none" stroke="#1565c0" stroke-width="1.6"/></svg>`;
}

function estateMap(estates) {
  const placed = estates.filter((e) => e.latitude != null && e.longitude != null);
  if (!placed.length) return "";
  const w = 640, h = 360, pad = 20;
  const lats = placed.map((e) => e.latitude), lons = placed.map((e) => e.longitude);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const X = (lon) => pad + ((lon - lo0) / ((lo1 - lo0) || 1)) * (w - 2 * pad);
  const Y = (lat) => h - pad - ((lat - la0) / ((la1 - la0) || 1)) * (h - 2 * pad);
  const dots = placed.map((e) => {
    const g = e.grade ? e.grade.grade : "unknown";
    const stroke = g === "not_assessed" ? `stroke="#546e7a" stroke-dasharray="3 2"` : `stroke="#fff"`;
    return `<a href="#/estate/${encodeURIComponent(e.id)}"><circle cx="${X(e.longitude)}" cy="${Y(e.latitude)}" r="8" class="dot" data-grade="${esc(g)}" fill="var(--${g}, var(--unknown))" ${stroke} stroke-width="2"><title>${esc(e.name)} ${esc(t("grade." + g))}</title></circle></a>`;
  }).join("");
  return `<h2>${esc(t("map"))}</h2><svg class="map" width="${w}" height="${h}" data-testid="estate-map">${dots}</svg>`;
}
