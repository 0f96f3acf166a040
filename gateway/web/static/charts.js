/* Charts as inline SVG (no library, nothing fetched). The map is map.js. */
"use strict";

// ---- charts (inline SVG) ----------------------------------------------------------------------------------

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
      <text x="${pad + 4}" y="${Y(l.value) - 3}" font-size="10" fill="${l.color}">${esc(l.label)}</text>`).join("");
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    <text x="4" y="${Y(hi) + 4}" font-size="10">${hi.toFixed(2)}</text><text x="4" y="${Y(lo)}" font-size="10">${lo.toFixed(2)}</text>
    <text x="${pad}" y="${height - 6}" font-size="10">${esc(fmtTime(points[0][0]))}</text>
    <text x="${width - pad}" y="${height - 6}" font-size="10" text-anchor="end">${esc(fmtTime(points[points.length - 1][0]))}</text>
    ${guides}<path d="${path}" fill="none" stroke="#1565c0" stroke-width="1.6"/>
    ${points.length <= 30 ? points.map((p, i) => `<circle cx="${X(xs[i]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.5" fill="#1565c0"/>`).join("") : ""}
    <circle cx="${X(xs[xs.length - 1]).toFixed(1)}" cy="${Y(ys[ys.length - 1]).toFixed(1)}" r="4" fill="#1565c0" data-last="${ys[ys.length - 1]}"/>
    <text x="${(X(xs[xs.length - 1]) + (xs.length > 1 ? -6 : 6)).toFixed(1)}" y="${(Y(ys[ys.length - 1]) - 7).toFixed(1)}" font-size="11" font-weight="700" text-anchor="${xs.length > 1 ? "end" : "start"}" fill="#1565c0">${esc(+ys[ys.length - 1].toFixed(2))}</text></svg>`;
}
