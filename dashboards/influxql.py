"""InfluxQL targets and template variables for the InfluxDB datasource.

grafana-foundation-sdk ships query builders for Prometheus, Loki, Elasticsearch and others, but none for
InfluxDB, so the target type lives here: a raw InfluxQL query (``rawQuery: true``), because the same text
then runs unchanged on InfluxDB 1.x, on 2.x through its v1 compatibility API and on 3.x, and the tests can
run exactly what Grafana will send. Raw rather than Grafana's visual query builder because most panels need
subqueries (the latest value per device, then a count), which the builder cannot express. It is registered
with the SDK's runtime so that ``Dashboard.from_json`` reads our targets back as ``InfluxQLQuery`` (the
round-trip check in ``build``), strictly: a key we would not write is an error, not silently kept.

The filter fragments below are the only place where the template variables meet the tags of
docs/schema.md; every panel composes its ``WHERE`` from them, so a renamed tag or variable is one edit.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dm

#: The datasource provisioned in ``dashboards/provisioning/datasources/influxdb.yaml`` (and created by
#: ``firegw dashboards push``). Every panel, target and variable refers to it by this uid.
DATASOURCE_UID = "firegw-influxdb"
DATASOURCE_TYPE = "influxdb"
DATASOURCE = dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)

ResultFormat = Literal["time_series", "table"]
_TARGET_KEYS = frozenset({"refId", "datasource", "query", "rawQuery", "resultFormat", "alias"})


class InfluxQLQuery(cogvariants.Dataquery):
    """One panel target: raw InfluxQL against the firegw datasource."""

    def __init__(
        self, ref_id: str, query: str, result_format: ResultFormat = "time_series", alias: str = ""
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format: ResultFormat = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            payload["alias"] = self.alias
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Strict on purpose: an unknown key or a non-raw query means the JSON was not made by this code."""
        unknown = set(data) - _TARGET_KEYS
        if unknown:
            raise ValueError(f"InfluxQL target {data.get('refId')!r}: unknown keys {sorted(unknown)}")
        if data.get("rawQuery") is not True:
            raise ValueError(f"InfluxQL target {data.get('refId')!r}: only raw InfluxQL is generated")
        fmt = data.get("resultFormat", "time_series")
        if fmt not in ("time_series", "table"):
            raise ValueError(f"InfluxQL target {data.get('refId')!r}: resultFormat {fmt!r}")
        return cls(str(data["refId"]), str(data["query"]), fmt, str(data.get("alias", "")))


class Q(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder wrapper, because SDK panels take builders, not models, in ``with_target``. Whitespace is
    collapsed so that queries can be written over several lines and still diff as one line in the JSON."""

    def __init__(self, query: str, *, ref_id: str = "A", table: bool = False, alias: str = "") -> None:
        self._query = InfluxQLQuery(
            ref_id, " ".join(query.split()), "table" if table else "time_series", alias
        )

    def build(self) -> cogvariants.Dataquery:
        return self._query


def register() -> None:
    """Let ``Dashboard.from_json`` decode influxdb targets as ``InfluxQLQuery`` (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json)
    )


# -- template variables -----------------------------------------------------------------------------------

#: Regex fragments: with "All" selected, district and street send ``.*`` (so estates without the tag still
#: match), while estate sends the list of estates the district/street selection left (Grafana's default),
#: which keeps the street filter on measurements that have no ``street`` tag (hazard, alarm).
DISTRICT = '"district" =~ /^$district$/'
STREET = '"street" =~ /^$street$/'
ESTATE = '"estate" =~ /^$estate$/'
KIND = '"kind" =~ /^$kind$/'
#: Every device point and rule-layer point that carries district, street and estate tags.
PLACE = f"{DISTRICT} AND {STREET} AND {ESTATE}"
#: ``hazard`` and ``alarm`` have no ``street`` tag (docs/schema.md); the estate list carries it instead.
PLACE_NO_STREET = f"{DISTRICT} AND {ESTATE}"

_ALL = dm.VariableOption(selected=True, text="All", value="$__all")


def _tag_variable(name: str, label: str, query: str, *, all_value: str | None) -> dash.QueryVariable:
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(" ".join(query.split()))
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(_ALL)
    )
    if all_value is not None:
        variable = variable.all_value(all_value)
    return variable


def district_variable() -> dash.QueryVariable:
    return _tag_variable("district", "区 District", 'SHOW TAG VALUES WITH KEY = "district"', all_value=".*")


def street_variable() -> dash.QueryVariable:
    return _tag_variable(
        "street", "街道 Street", f'SHOW TAG VALUES WITH KEY = "street" WHERE {DISTRICT}', all_value=".*"
    )


def estate_variable() -> dash.QueryVariable:
    return _tag_variable(
        "estate",
        "小区 Estate",
        f'SHOW TAG VALUES WITH KEY = "estate" WHERE {DISTRICT} AND {STREET}',
        all_value=None,
    )


def device_variable(name: str, label: str, measurement: str, where: str = "") -> dash.QueryVariable:
    """Devices of one measurement within the selected estates (hydrants, cameras)."""
    extra = f" AND {where}" if where else ""
    return _tag_variable(
        name,
        label,
        f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "device" WHERE {PLACE}{extra}',
        all_value=".*",
    )


def custom_variable(name: str, label: str, options: dict[str, str]) -> dash.CustomVariable:
    """A fixed list (``text : value`` pairs, Grafana's custom-variable syntax), multi-select with All."""
    values = ", ".join(f"{text} : {value}" for value, text in options.items())
    return (
        dash.CustomVariable(name)
        .label(label)
        .values(values)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(_ALL)
        .options([_ALL] + [dm.VariableOption(selected=False, text=t, value=v) for v, t in options.items()])
    )


DEVICE_KINDS = {
    "smoke_detector": "感烟探测器 Smoke detector",
    "hydrant": "消火栓 Hydrant",
    "camera": "摄像头 Camera",
}


def kind_variable() -> dash.CustomVariable:
    return custom_variable("kind", "设备类型 Device kind", DEVICE_KINDS)
