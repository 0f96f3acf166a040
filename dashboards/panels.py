"""Panel helpers and the grid: the few choices every panel shares, made once.

Each helper returns a grafana-foundation-sdk panel builder already pointed at the firegw datasource, with
the house style (Chinese title with the English beside it, a description saying what the panel answers and
where its numbers come from, "0" or "—" instead of "No data" where that is the honest reading). The boards
in ``boards/`` stay a readable list of questions and queries.

``Board`` does the layout itself rather than through the SDK's ``with_panel`` auto-placement, which checks
for overflow only after placing a panel (a 12-wide panel at x=18 ends past the 24-column grid); here every
row is filled left to right, a panel that does not fit starts the next row, and panel ids are assigned in
order, so the JSON is stable from run to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from grafana_foundation_sdk.builders import bargauge as bargauge_b
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap as geomap_b
from grafana_foundation_sdk.builders import histogram as histogram_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import statetimeline as statetimeline_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as timeseries_b
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as geomap_m

from dashboards.influxql import DATASOURCE, Q

GRID_COLUMNS = 24

# -- small model helpers ------------------------------------------------------------------------------------


def value_map(options: Mapping[str, tuple[str, str]]) -> dm.ValueMap:
    """Value -> (display text, colour); ``index`` keeps Grafana's editor order stable."""
    return dm.ValueMap(
        options={
            value: dm.ValueMappingResult(text=text, color=color, index=i)
            for i, (value, (text, color)) in enumerate(options.items())
        }
    )


def thresholds(base: str, *steps: tuple[float, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first step, then each (value, colour)."""
    return (
        dash.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color=base)] + [dm.Threshold(value=v, color=c) for v, c in steps])
    )


def fixed_color(color: str) -> dash.FieldColor:
    return dash.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color(color)


def prop(id_val: str, value: object) -> dm.DynamicConfigValue:
    return dm.DynamicConfigValue(id_val=id_val, value=value)


def column(
    name: str,
    *,
    title: str | None = None,
    unit: str | None = None,
    width: int | None = None,
    cell: str | None = None,
    mappings: Mapping[str, tuple[str, str]] | None = None,
    steps: dash.ThresholdsConfig | None = None,
    decimals: int | None = None,
) -> tuple[str, list[dm.DynamicConfigValue]]:
    """Field override for one table column (or one series): display name, unit, width, cell type..."""
    props: list[dm.DynamicConfigValue] = []
    if title is not None:
        props.append(prop("displayName", title))
    if unit is not None:
        props.append(prop("unit", unit))
    if decimals is not None:
        props.append(prop("decimals", decimals))
    if width is not None:
        props.append(prop("custom.width", width))
    if cell is not None:
        props.append(prop("custom.cellOptions", {"type": cell}))
    if mappings is not None:
        props.append(prop("mappings", [value_map(mappings).to_json()]))
    if steps is not None:
        props.append(prop("thresholds", steps.build().to_json()))
    return name, props


Column = tuple[str, list[dm.DynamicConfigValue]]


def series(name: str, colour: str, *, title: str | None = None) -> Column:
    """Fixed colour (and optionally a display name) for one series, e.g. the red-estates line in red."""
    props = [prop("color", {"mode": "fixed", "fixedColor": colour})]
    if title is not None:
        props.insert(0, prop("displayName", title))
    return name, props


def transformation(id_val: str, options: Mapping[str, Any]) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=id_val, options=dict(options))


def organize(*, hide: Iterable[str] = ("Time",), order: Sequence[str] = ()) -> dm.DataTransformerConfig:
    """Hide columns (InfluxDB returns a Time column even for "now" aggregates, at 1970) and order them."""
    return transformation(
        "organize",
        {
            "excludeByName": {name: True for name in hide},
            "indexByName": {name: i for i, name in enumerate(order)},
            "renameByName": {},
        },
    )


# -- panels ----------------------------------------------------------------------------------------------


def _targets(queries: Sequence[Q]) -> list[cogbuilder.Builder[Any]]:
    refs = [q.build() for q in queries]
    seen = [getattr(r, "ref_id", "") for r in refs]
    if len(set(seen)) != len(seen):
        raise ValueError(f"duplicate refIds {seen}")
    return list(queries)


def stat(
    title: str,
    description: str,
    *queries: Q,
    unit: str = "short",
    color: str | None = None,
    steps: dash.ThresholdsConfig | None = None,
    mappings: Mapping[str, tuple[str, str]] | None = None,
    no_value: str = "0",
    decimals: int | None = None,
    calc: str = "lastNotNull",
) -> stat_b.Panel:
    """A big number; ``color`` fixes the colour (grade counts), ``steps`` colour by thresholds."""
    panel = (
        stat_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .no_value(no_value)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND if color else common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.AUTO)
        .justify_mode(common.BigValueJustifyMode.CENTER)
        .reduce_options(common_b.ReduceDataOptions().calcs([calc]).values(False).fields(""))
    )
    if color is not None:
        panel = panel.color_scheme(fixed_color(color))
    if steps is not None:
        panel = panel.thresholds(steps)
    if mappings is not None:
        panel = panel.mappings([value_map(mappings)])
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def timeseries(
    title: str,
    description: str,
    *queries: Q,
    unit: str = "short",
    bars: bool = False,
    points: bool = False,
    stack: bool = False,
    steps: dash.ThresholdsConfig | None = None,
    threshold_lines: bool = False,
    min_interval: str | None = None,
    columns: Sequence[Column] = (),
    soft_min: float | None = None,
    decimals: int | None = None,
) -> timeseries_b.Panel:
    """Lines (or bars, or points); ``threshold_lines`` draws the thresholds as dashed lines."""
    panel = (
        timeseries_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .legend(
            common_b.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(
            common_b.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS).fill_opacity(80).line_width(1)
    elif points:
        panel = panel.draw_style(common.GraphDrawStyle.POINTS).point_size(8)
    else:
        panel = (
            panel.draw_style(common.GraphDrawStyle.LINE)
            .line_width(2)
            .fill_opacity(10)
            .span_nulls(True)
            .show_points(common.VisibilityMode.NEVER)
        )
    if stack:
        panel = panel.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL))
    if steps is not None:
        panel = panel.thresholds(steps)
    if threshold_lines:
        panel = panel.thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
    if min_interval is not None:
        panel = panel.interval(min_interval)
    if soft_min is not None:
        panel = panel.axis_soft_min(soft_min)
    if decimals is not None:
        panel = panel.decimals(decimals)
    for name, props in columns:
        panel = panel.override_by_name(name, props)
    return panel


def bargauge(
    title: str,
    description: str,
    *queries: Q,
    unit: str = "short",
    steps: dash.ThresholdsConfig | None = None,
    color: str | None = None,
    max_value: float | None = None,
    min_value: float | None = None,
    decimals: int | None = None,
) -> bargauge_b.Panel:
    """Horizontal bars, one per series (per estate, per kind, per camera)."""
    panel = (
        bargauge_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .no_value("0")
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .value_mode(common.BarGaugeValueMode.COLOR)
        .name_placement(common.BarGaugeNamePlacement.LEFT)
        .show_unfilled(True)
        .sizing(common.BarGaugeSizing.AUTO)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields(""))
    )
    if steps is not None:
        panel = panel.thresholds(steps)
    if color is not None:
        panel = panel.color_scheme(fixed_color(color))
    if max_value is not None:
        panel = panel.max(max_value)
    if min_value is not None:
        panel = panel.min(min_value)
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def table(
    title: str,
    description: str,
    *queries: Q,
    columns: Sequence[Column] = (),
    transformations: Sequence[dm.DataTransformerConfig] = (),
    sort_by: str | None = None,
    descending: bool = True,
    footer_count: bool = False,
    no_value: str = "—",
) -> table_b.Panel:
    """Rows to act on (red estates, failing hydrants, overdue hazards), newest or worst first."""
    panel = (
        table_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .no_value(no_value)
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .filterable(True)
        .align(common.FieldTextAlignment.AUTO)
        .transformations(list(transformations))
    )
    if sort_by is not None:
        panel = panel.sort_by([common_b.TableSortByFieldState().display_name(sort_by).desc(descending)])
    if footer_count:
        panel = panel.footer(
            common_b.TableFooterOptions().show(True).reducer(["count"]).count_rows(True).fields([])
        )
    for name, props in columns:
        panel = panel.override_by_name(name, props)
    return panel


def state_timeline(
    title: str,
    description: str,
    *queries: Q,
    mappings: Mapping[str, tuple[str, str]],
    min_interval: str | None = None,
) -> statetimeline_b.Panel:
    """States over time per device or estate (grade, signal active/resolved, lane occupied/clear)."""
    panel = (
        statetimeline_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .mappings([value_map(mappings)])
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds("text"))
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .fill_opacity(80)
        .line_width(0)
        .align_value(common.TimelineValueAlignment.LEFT)
        .legend(
            common_b.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    if min_interval is not None:
        panel = panel.interval(min_interval)
    return panel


def histogram(
    title: str,
    description: str,
    *queries: Q,
    unit: str,
    bucket_size: int,
    color: str = "blue",
) -> histogram_b.Panel:
    """A distribution over devices (battery, signal): one value per device, combined into buckets."""
    return (
        histogram_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .bucket_size(bucket_size)
        .combine(True)
        .fill_opacity(80)
        .line_width(1)
        .color_scheme(fixed_color(color))
        .legend(common_b.VizLegendOptions().show_legend(False).display_mode(common.LegendDisplayMode.LIST))
    )


def geomap(
    title: str,
    description: str,
    *queries: Q,
    latitude: str,
    longitude: str,
    color_field: str,
    label_field: str,
    steps: dash.ThresholdsConfig,
    mappings: Mapping[str, tuple[str, str]],
    layer: str,
) -> geomap_b.Panel:
    """Places on a map: one marker per row at (``latitude``, ``longitude``), coloured by ``color_field``
    through ``steps`` (its legend says what the colours mean through ``mappings``), labelled with
    ``label_field``. The view fits the markers; the basemap is Grafana's default (its ``[geomap]``
    settings choose the tile server, e.g. one inside the control room's network)."""
    markers = {
        "showLegend": True,
        "style": {
            "color": {"field": color_field, "fixed": "#8e8e8e"},
            "opacity": 0.9,
            "size": {"fixed": 12, "min": 4, "max": 16},
            "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
            "symbolAlign": {"horizontal": "center", "vertical": "center"},
            "text": {"mode": "field", "field": label_field, "fixed": ""},
            "textConfig": {
                "fontSize": 12,
                "offsetX": 0,
                "offsetY": -14,
                "textAlign": "center",
                "textBaseline": "bottom",
            },
        },
    }
    return (
        geomap_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .view(geomap_b.MapViewConfig().id("fit").lat(0).lon(0).zoom(1).all_layers(True).padding(10))
        .controls(
            geomap_b.ControlsOptions()
            .show_zoom(True)
            .mouse_wheel_zoom(True)
            .show_attribution(True)
            .show_scale(False)
            .show_debug(False)
            .show_measure(False)
        )
        .basemap(common_b.MapLayerOptions().type("default").name("Basemap").config({}))
        .layers(
            [
                common_b.MapLayerOptions()
                .type("markers")
                .name(layer)
                .config(markers)
                .location(
                    common_b.FrameGeometrySource()
                    .mode(common.FrameGeometrySourceMode.COORDS)
                    .latitude(latitude)
                    .longitude(longitude)
                )
                .tooltip(True)
            ]
        )
        .tooltip(geomap_b.TooltipOptions().mode(geomap_m.TooltipMode.DETAILS))
        .color_scheme(dash.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(steps)
        .mappings([value_map(mappings)])
        .decimals(0)
    )


# -- the grid ----------------------------------------------------------------------------------------------

PanelBuilder = cogbuilder.Builder[dm.Panel]


class Board:
    """A dashboard being laid out: rows of panels, filled left to right on Grafana's 24-column grid."""

    def __init__(self, builder: dash.Dashboard) -> None:
        self._builder = builder
        self._items: list[dm.Panel | dm.RowPanel] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def row(self, title: str) -> None:
        """A section header across the whole width (always starts a new line)."""
        self._newline()
        row = dm.RowPanel(
            title=title,
            collapsed=False,
            grid_pos=dm.GridPos(h=1, w=GRID_COLUMNS, x=0, y=self._y),
            panels=[],
        )
        self._items.append(row)
        self._y += 1

    def add(self, panel: PanelBuilder, w: int, h: int) -> None:
        if not 0 < w <= GRID_COLUMNS:
            raise ValueError(f"panel width {w} outside 1..{GRID_COLUMNS}")
        if self._x + w > GRID_COLUMNS:
            self._newline()
        model = panel.build()
        model.grid_pos = dm.GridPos(h=h, w=w, x=self._x, y=self._y)
        self._items.append(model)
        self._x += w
        self._row_h = max(self._row_h, h)

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
        self._x = 0
        self._row_h = 0

    def build(self) -> dm.Dashboard:
        model = self._builder.build()
        for i, item in enumerate(self._items, start=1):
            item.id_val = i
        model.panels = list(self._items)
        return model
