"""Generate a realistic, reproducible fleet of estates and devices as a ``Registry``.

Demos, benchmarks and tests need thousands of devices that look like a real city's: Chinese estate names,
the real central districts and street offices (街道) of 郑州市 (the seed documents are from its 二七区),
each estate placed near its street's centre in GCJ-02 (the frame of AMap and of the district outline the UI
ships, ``gateway/web/static/maps/``), property companies, buildings ``3号楼`` with floors and flats, hydrants
indoors (pump room / top floor, the least favourable point) and outdoors on the mains, cameras on fire
lanes, stairwells and lift lobbies. The same ``seed`` gives the same registry byte for byte
(``registry_to_toml``), so a scenario file only needs the parameters, not a 10,000-device registry.

Modbus addressing: Modbus hydrants are numbered across the whole fleet and packed onto Modbus TCP gateways
of ``units_per_gateway`` (at most 247, the RS-485 address space) units each. Gateway ``g`` is at
``modbus_host:modbus_port + g``; with ``modbus_hosts`` the gateways are spread round-robin over the hosts
first (gateway ``g`` -> ``hosts[g % n]`` port ``modbus_port + g // n``). The simulator starts one
``HydrantModbusSimulator`` per (host, port) it finds in the registry.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from gateway.ingest.registry import Registry
from gateway.models import Building, Device, DeviceKind, Estate, ModbusAddress

CITY = "郑州市"

_PREFIXES = (
    "阳光", "锦绣", "翠湖", "金色", "滨江", "紫荆", "丽景", "和平", "幸福", "春晓",
    "碧水", "星河", "桂园", "枫林", "海棠", "梧桐", "御景", "东方", "明珠", "长虹",
    "青山", "白云", "绿洲", "书香", "康乐", "福星", "嘉禾", "安居", "银杏", "月湖",
    "南湖", "花溪", "龙泉", "凤凰", "华侨", "晨曦", "香樟", "新城", "万福", "嵩山",
)  # fmt: skip
_SUFFIXES = ("花园", "家园", "小区", "新村", "苑", "公寓", "雅苑", "华庭", "名邸", "嘉园", "佳苑", "里")
#: Five central districts of 郑州市 and some of their streets, each street with a point (longitude,
#: latitude; GCJ-02) near its centre, chosen at least 0.8 km inside its district's outline in the shipped
#: map, so that an estate scattered around it (``_SPREAD_*``, at most 0.65 km) lies in its own district
#: (tests/test_overview_map.py checks that). The number of districts and of streets per district (4, 3, 3, 4,
#: 3) is the one the generator always had, so a seed draws the same sequence as before.
_DISTRICTS: dict[str, dict[str, tuple[float, float]]] = {
    "二七区": {
        "淮河路街道": (113.652, 34.727),
        "解放路街道": (113.6575, 34.7515),
        "铭功路街道": (113.656, 34.752),
        "一马路街道": (113.6565, 34.7475),
    },
    "中原区": {
        "林山寨街道": (113.612, 34.758),
        "建设路街道": (113.622, 34.7645),
        "棉纺路街道": (113.598, 34.77),
    },
    "金水区": {
        "经八路街道": (113.683, 34.776),
        "花园路街道": (113.681, 34.79),
        "文化路街道": (113.665, 34.8),
    },
    "管城回族区": {
        "北下街街道": (113.6785, 34.7485),
        "城东路街道": (113.688, 34.747),
        "紫荆山南路街道": (113.69, 34.735),
        "南关街道": (113.6765, 34.7425),
    },
    "惠济区": {"新城街道": (113.635, 34.858), "长兴路街道": (113.62, 34.87), "迎宾路街道": (113.6, 34.88)},
}
#: How far an estate may lie from its street's point, in degrees (about 0.45 km each way).
_SPREAD_LAT, _SPREAD_LON = 0.004, 0.005
_COMPANIES = (
    "郑州安居物业服务有限公司",
    "恒安物业管理有限公司",
    "宏泰物业服务有限公司",
    "嘉和物业管理有限公司",
    "城建物业服务有限公司",
    "锦程物业管理有限公司",
    "华润达物业服务有限公司",
    "绿苑物业管理有限公司",
)
#: Detector vendor / company codes (GB/T 45839 ``company``); invented, not real manufacturers.
SMOKE_VENDORS = ("HNSK", "TYAQ", "JXFS")
_GATES = ("东门", "南门", "西门", "北门", "中心广场")
_ROMAN = "一二三四五六七八九十"


def generate_fleet(
    estates: int,
    smoke_per_estate: int,
    hydrants_per_estate: int,
    cameras_per_estate: int,
    modbus_share: float,
    seed: int,
    modbus_host: str = "127.0.0.1",
    modbus_port: int = 5020,
    *,
    modbus_hosts: Sequence[str] | None = None,
    units_per_gateway: int = 247,
    modbus_poll_s: float = 60.0,
    gbt_share: float = 0.12,
    ctwing_share: float = 0.13,
    estate_prefix: str = "E",
) -> Registry:
    """A registry of ``estates`` estates with the given number of devices of each kind per estate.

    ``modbus_share`` (0..1) of the hydrants are Modbus-polled (indoor ones first: the RS-485 bus runs
    from the pump room up the risers; outdoor hydrants use DTUs), spread exactly over the fleet. Smoke
    detectors speak ``smoke_json`` except ``gbt_share`` GB/T 45839 status and ``ctwing_share`` CTWing
    (those carry an IMEI). Device ids: ``SD-E001-0001``, ``HY-E001-01``, ``CAM-E001-01`` (wider numbers
    when the counts need them).
    """
    if estates < 0 or min(smoke_per_estate, hydrants_per_estate, cameras_per_estate) < 0:
        raise ValueError("counts must be >= 0")
    if not 0.0 <= modbus_share <= 1.0:
        raise ValueError(f"modbus_share must be within 0..1, got {modbus_share}")
    if not 1 <= units_per_gateway <= 247:
        raise ValueError(f"units_per_gateway must be 1..247 (RS-485 addresses), got {units_per_gateway}")
    if gbt_share < 0 or ctwing_share < 0 or gbt_share + ctwing_share > 1:
        raise ValueError("gbt_share and ctwing_share must be >= 0 and sum to at most 1")
    hosts = list(modbus_hosts) if modbus_hosts else [modbus_host]

    rng = random.Random(seed)
    names = [p + s for p in _PREFIXES for s in _SUFFIXES]
    rng.shuffle(names)
    districts = list(_DISTRICTS)
    e_width = max(3, len(str(estates)))
    sd_width = max(4, len(str(smoke_per_estate)))
    hy_width = max(2, len(str(hydrants_per_estate)))
    cam_width = max(2, len(str(cameras_per_estate)))

    estate_list: list[Estate] = []
    building_list: list[Building] = []
    devices: list[Device] = []
    imei_counter = rng.randrange(10**6, 10**7)
    modbus_index = 0
    total_hydrants = 0

    for e in range(estates):
        eid = f"{estate_prefix}{e + 1:0{e_width}d}"
        cycle, idx = divmod(e, len(names))
        name = names[idx] + (f"{_phase(cycle + 1)}期" if cycle else "")
        district = districts[rng.randrange(len(districts))]
        streets = list(_DISTRICTS[district])
        street = streets[rng.randrange(len(streets))]
        company = _COMPANIES[rng.randrange(len(_COMPANIES))]
        lon, lat = _DISTRICTS[district][street]
        estate_list.append(
            Estate(
                id=eid,
                name=name,
                district=district,
                street=street,
                property_company=company,
                latitude=round(lat + rng.uniform(-_SPREAD_LAT, _SPREAD_LAT), 5),
                longitude=round(lon + rng.uniform(-_SPREAD_LON, _SPREAD_LON), 5),
            )
        )

        # Buildings: about 8 monitored flats per building at small counts (detectors go to some flats, not
        # all: subsidised installs target the elderly and rentals), at most 40 buildings per estate.
        n_buildings = max(1, min(40, math.ceil(smoke_per_estate / 8)))
        floors: list[int] = []
        bids: list[str] = []
        for b in range(n_buildings):
            n_floors = rng.choice((6, 7, 11, 18, 18, 24, 26, 30, 33))
            bid = f"{eid}-B{b + 1:02d}"
            floors.append(n_floors)
            bids.append(bid)
            building_list.append(
                Building(id=bid, estate_id=eid, name=f"{b + 1}号楼", floors=n_floors, height_m=n_floors * 3.0)
            )

        # Smoke detectors: round-robin over buildings, distinct flats inside each building.
        per_building = [smoke_per_estate // n_buildings + (1 if b < smoke_per_estate % n_buildings else 0)
                        for b in range(n_buildings)]  # fmt: skip
        n = 0
        for b, count in enumerate(per_building):
            if count == 0:
                continue
            rooms_per_floor = max(2, math.ceil(count / floors[b]))
            slots = rng.sample(range(floors[b] * rooms_per_floor), count)
            slots.sort()
            for slot in slots:
                floor, room = divmod(slot, rooms_per_floor)
                floor += 1
                room += 1
                n += 1
                roll = rng.random()
                imei = None
                if roll < ctwing_share:
                    fmt, vendor = "ctwing", "generic"
                    imei_counter += 1
                    imei = _imei(imei_counter)
                elif roll < ctwing_share + gbt_share:
                    fmt, vendor = "gbt45839_status", SMOKE_VENDORS[rng.randrange(len(SMOKE_VENDORS))]
                else:
                    fmt, vendor = "smoke_json", SMOKE_VENDORS[rng.randrange(len(SMOKE_VENDORS))]
                devices.append(
                    Device(
                        id=f"SD-{eid}-{n:0{sd_width}d}",
                        kind=DeviceKind.SMOKE_DETECTOR,
                        estate_id=eid,
                        building_id=bids[b],
                        location=f"{b + 1}号楼 {floor}层 {floor}{room:02d}室",
                        floor=floor,
                        wire_format=fmt,
                        imei=imei,
                        vendor=vendor,
                    )
                )

        # Hydrants: ~1 in 5 outdoor on the mains (DTU), the rest indoor; Modbus share taken indoor first.
        h = hydrants_per_estate
        n_outdoor = min(h, max(1 if h >= 3 else 0, h // 5))
        n_modbus = math.floor((total_hydrants + h) * modbus_share) - math.floor(total_hydrants * modbus_share)
        total_hydrants += h
        first_modbus = h - n_modbus  # the last n_modbus hydrants, i.e. indoor ones unless all must be Modbus
        for j in range(h):
            hid = f"HY-{eid}-{j + 1:0{hy_width}d}"
            thresholds: dict[str, float] = {}
            building_id = ""
            floor_no: int | None = None
            if j < n_outdoor:
                location = f"{_GATES[j % len(_GATES)]} 室外消火栓"
                # Outdoor hydrants hang on the municipal mains: >= 0.14 MPa (GB 55036-2022 §3.0.3).
                thresholds["pressure_min_mpa"] = 0.14
            else:
                b = (j - n_outdoor) % n_buildings
                building_id = bids[b]
                if (j - n_outdoor) // n_buildings % 2 == 0:
                    # The top floor is the least favourable point of the riser.
                    floor_no = floors[b]
                    location = f"{b + 1}号楼 {floor_no}层 消火栓箱(最不利点)"
                else:
                    floor_no = 1
                    location = f"{b + 1}号楼 1层 消火栓箱"
                if floors[b] * 3.0 > 100:
                    # Above 100 m the static minimum is 0.15 MPa (GB 50974-2014 §5.2.2).
                    thresholds["pressure_min_mpa"] = 0.15
            modbus = None
            fmt = "hydrant_json"
            if j >= first_modbus:
                gateway, unit0 = divmod(modbus_index, units_per_gateway)
                modbus_index += 1
                modbus = ModbusAddress(
                    host=hosts[gateway % len(hosts)],
                    port=modbus_port + gateway // len(hosts),
                    unit=unit0 + 1,
                    poll_interval_s=modbus_poll_s,
                )
                fmt = "modbus"
            devices.append(
                Device(
                    id=hid,
                    kind=DeviceKind.HYDRANT,
                    estate_id=eid,
                    building_id=building_id,
                    location=location,
                    floor=floor_no,
                    wire_format=fmt,
                    vendor="SIM",
                    modbus=modbus,
                    thresholds=thresholds,
                )
            )

        # Cameras: fire lanes at the gates and along buildings, stairwells, lift lobbies.
        for c in range(cameras_per_estate):
            b = c % n_buildings
            role = c % 4
            if role == 0:
                location, building_id = f"{_GATES[(c // 4) % len(_GATES)]} 消防车道", ""
            elif role == 1:
                location, building_id = f"{b + 1}号楼 消防车道", bids[b]
            elif role == 2:
                location, building_id = f"{b + 1}号楼 1层 电梯厅", bids[b]
            else:
                location, building_id = f"{b + 1}号楼 疏散楼梯", bids[b]
            devices.append(
                Device(
                    id=f"CAM-{eid}-{c + 1:0{cam_width}d}",
                    kind=DeviceKind.CAMERA,
                    estate_id=eid,
                    building_id=building_id,
                    location=location,
                    wire_format="camera_event",
                    vendor="SIM",
                )
            )

    # model_validate rather than Registry(...): the registry's private lookup attributes confuse mypy.
    return Registry.model_validate(
        {"estates": tuple(estate_list), "buildings": tuple(building_list), "devices": tuple(devices)}
    )


def modbus_gateways(registry: Registry) -> list[tuple[str, int]]:
    """The distinct Modbus TCP gateways (host, port) the registry's devices sit behind, sorted."""
    return sorted({(d.modbus.host, d.modbus.port) for d in registry.devices if d.modbus is not None})


def _phase(n: int) -> str:
    return _ROMAN[n - 1] if n <= len(_ROMAN) else str(n)


def _imei(counter: int) -> str:
    """A 15-digit IMEI (prefix 869975 + 8-digit serial) with a valid Luhn check digit."""
    body = f"869975{counter % 10**8:08d}"
    total = 0
    for i, ch in enumerate(body):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)
