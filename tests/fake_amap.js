/* A stand-in for AMap's Web JS API 2.0 (https://webapi.amap.com/maps?v=2.0), served by the browser tests of
 * tests/test_amap_base_map.py in place of AMap's, which cannot be reached from this machine (no internet).
 * It implements what echarts-extension-amap 1.12 and map.js call — a map on a plain Web Mercator projection,
 * its events, LngLat, Pixel, Bounds — draws no tiles, and records what it was asked (window.fakeAmap). */
"use strict";
(() => {
  const toLngLat = (p) => (p instanceof LngLat ? p : new LngLat(p[0], p[1]));
  const worldPx = (lng, lat, zoom) => {
    const size = 256 * 2 ** zoom;
    const s = Math.sin((lat * Math.PI) / 180);
    return [((lng + 180) / 360) * size, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size];
  };
  const fromWorldPx = (x, y, zoom) => {
    const size = 256 * 2 ** zoom;
    const n = Math.PI - (2 * Math.PI * y) / size;
    return new LngLat((x / size) * 360 - 180, (180 / Math.PI) * Math.atan(Math.sinh(n)));
  };

  class LngLat {
    constructor(lng, lat) { this.lng = lng; this.lat = lat; }
    getLng() { return this.lng; }
    getLat() { return this.lat; }
  }
  class Pixel {
    constructor(x, y) { this.x = x; this.y = y; }
    getX() { return this.x; }
    getY() { return this.y; }
  }
  class Bounds {
    constructor(southWest, northEast) { this.southWest = toLngLat(southWest); this.northEast = toLngLat(northEast); }
    getSouthWest() { return this.southWest; }
    getNorthEast() { return this.northEast; }
  }

  class FakeMap {
    constructor(container, options = {}) {
      this.container = typeof container === "string" ? document.getElementById(container) : container;
      this.options = options;
      this.center = toLngLat(options.center || [116.397, 39.909]);
      this.zoom = options.zoom || 10;
      this.style = options.mapStyle || "amap://styles/normal";
      this.handlers = {};
      this.asked = [];
      const maps = document.createElement("div");
      maps.className = "amap-maps";
      maps.style.cssText = "position:absolute;inset:0;";
      this.container.appendChild(maps);
      window.fakeAmap.maps.push(this);
      setTimeout(() => this.fire("complete"), 0);
    }
    on(event, fn) { (this.handlers[event] = this.handlers[event] || []).push(fn); }
    off(event, fn) { this.handlers[event] = (this.handlers[event] || []).filter((f) => f !== fn); }
    fire(event) { for (const fn of this.handlers[event] || []) fn({ type: event, target: this }); }
    size() { return [this.container.clientWidth || 1, this.container.clientHeight || 1]; }
    getZoom() { return this.zoom; }
    getCenter() { return this.center; }
    getScale() { return 1; }
    getRotation() { return 0; }
    getPitch() { return 0; }
    getViewMode_() { return this.options.viewMode || "2D"; }
    getContainer() { return this.container; }
    getMapStyle() { return this.style; }
    setMapStyle(style) { this.style = style; this.asked.push(["setMapStyle", style]); }
    getLang() { return "zh_cn"; }
    setLang() {}
    lngLatToContainer(point) {
      const p = toLngLat(point);
      const [w, h] = this.size();
      const [cx, cy] = worldPx(this.center.lng, this.center.lat, this.zoom);
      const [x, y] = worldPx(p.lng, p.lat, this.zoom);
      return new Pixel(x - cx + w / 2, y - cy + h / 2);
    }
    containerToLngLat(pixel) {
      const [w, h] = this.size();
      const [cx, cy] = worldPx(this.center.lng, this.center.lat, this.zoom);
      return fromWorldPx(pixel.x - w / 2 + cx, pixel.y - h / 2 + cy, this.zoom);
    }
    getBounds() {
      const [w, h] = this.size();
      return new Bounds(this.containerToLngLat(new Pixel(0, h)), this.containerToLngLat(new Pixel(w, 0)));
    }
    setZoomAndCenter(zoom, center) {
      this.zoom = zoom;
      this.center = toLngLat(center);
      this.asked.push(["setZoomAndCenter", zoom, [this.center.lng, this.center.lat]]);
      this.moved();
    }
    setBounds(bounds) {
      const sw = bounds.getSouthWest(), ne = bounds.getNorthEast();
      this.asked.push(["setBounds", [sw.lng, sw.lat], [ne.lng, ne.lat]]);
      this.center = new LngLat((sw.lng + ne.lng) / 2, (sw.lat + ne.lat) / 2);
      const [w, h] = this.size();
      let zoom = 18;
      const fits = (z) => {
        const [x0, y0] = worldPx(sw.lng, sw.lat, z), [x1, y1] = worldPx(ne.lng, ne.lat, z);
        return x1 - x0 <= w && y0 - y1 <= h;
      };
      while (zoom > 3 && !fits(zoom)) zoom -= 0.25;
      this.zoom = zoom;
      this.moved();
    }
    moved() { setTimeout(() => { for (const e of ["viewchange", "zoomend", "moveend"]) this.fire(e); }, 0); }
    destroy() {}
  }

  window.fakeAmap = { maps: [] };
  window.AMap = { Map: FakeMap, LngLat, Pixel, Bounds, version: "2.0.6", v: "2.0.6" };
})();
