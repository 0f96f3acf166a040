"""The estate placard (公示牌) for the main entrance, as an A4 PDF or a PNG.

What residents see: the colour as a large field, what the colour means (红色 高风险), the estate, the date of
the grade, of the street office's assessment (排查登记) and until when it holds, the date of printing, who is
responsible (the property company), the hotline, the reasons (what decided the colour first, at most five)
and the grading standard. Chinese first, English small.

An estate that is not assessed (未评定: never inspected and registered, the assessment expired, or a green
condition's evidence is due) or whose grade is unknown (未知: every device silent) gets no colour of the
policy: a neutral field that says so, no coloured legend swatches and neutral reason badges, so that nobody
reads it as green. An estate without any grade on record says 暂无评定.

Each placard of a graded estate carries a QR code (top right) to the public check page ``/p/{serial}``
(gateway/api/routers/placards.py): a random serial per grade change, so a resident can see whether the
placard on the wall still shows the estate's current colour and date.

The layout is written once (``_layout``) in PDF points from the top-left corner against a small drawing
surface; reportlab and Pillow each implement the surface, so the PDF and the PNG are the same picture.
The grade comes from the hazard store (the latest grade change of the estate), so the command line and
the HTTP API print the same placard.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from gateway.models import Estate
from gateway.reports.colours import COLOUR_RGB, NOT_A_GRADE, OTHER_RGB, RGB, colour_rgb
from gateway.reports.criteria import criterion_order
from gateway.reports.fonts import FontFile, pdf_font, pil_font, pil_font_file
from gateway.reports.placard_qr import check_url, draw_qr
from gateway.store import HazardStore
from gateway.store.records import GradeChangeRecord
from rules.policy import NOT_ASSESSED, UNKNOWN, Policy

Anchor = Literal["left", "centre", "right"]
Format = Literal["pdf", "png"]

#: A4 portrait in PDF points; the PNG is the same page at 150 dpi.
PAGE_W, PAGE_H = 595.28, 841.89
PNG_SIZE = (1240, 1754)
MARGIN = 36.0
#: The colour field: x, y (from the top), width, height in points.
COLOUR_FIELD = (MARGIN, 166.0, PAGE_W - 2 * MARGIN, 232.0)
MAX_REASONS = 5
#: The QR code to the public check page: its side in points, top right beside the estate's name.
QR_SIDE = 72.0
QR_BOX = (PAGE_W - MARGIN - QR_SIDE, 84.0)

INK: RGB = (17, 24, 39)
MUTED: RGB = (90, 98, 110)
WHITE: RGB = (255, 255, 255)
HEADER: RGB = (31, 41, 55)
CATEGORY_RGB: dict[str, RGB] = {
    "red": COLOUR_RGB["red"],
    "yellow": (202, 138, 4),
    "green": COLOUR_RGB["green"],
}


def _ink_on(fill: RGB) -> RGB:
    r, g, b = fill
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 160 else WHITE


# -- what is printed -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacardReason:
    #: A criterion code, or "" for what is not a criterion (not assessed, every device silent, out of use).
    code: str
    zh: str
    en: str
    #: red / yellow (an item), green (a condition that is not met or is due), or "" (no criterion).
    category: str
    #: It decided the colour (listed first).
    decisive: bool = False


@dataclass(frozen=True, slots=True)
class LegendEntry:
    colour: str
    zh: str
    meaning_zh: str


@dataclass(frozen=True, slots=True)
class PlacardData:
    estate_id: str
    estate_name: str
    district: str
    street: str
    responsible: str
    #: A policy colour id, or ``unknown``.
    colour: str
    colour_zh: str
    colour_en: str
    meaning_zh: str
    meaning_en: str
    #: Local date of the grade change that set the current grade (None: never graded).
    graded_on: date | None
    printed_on: date
    #: The street office's latest assessment (排查登记) and until when it holds (None: never assessed).
    assessed_on: date | None
    assessment_valid_until: date | None
    hotline: str
    reasons: tuple[PlacardReason, ...]
    #: Reasons left off the placard (beyond ``MAX_REASONS``).
    more_reasons: int
    policy_zh: str
    policy_en: str
    policy_ref: str
    legend: tuple[LegendEntry, ...]
    #: The public check page of this placard (its QR code, ``{public_url}/p/{serial}``), or None: no QR.
    check_url: str | None = None
    #: The placard's serial (``gateway/store/placards.py``), printed under the QR code.
    serial: str | None = None


def build_placard(
    estate: Estate,
    grade: GradeChangeRecord | None,
    policy: Policy,
    *,
    hotline: str,
    now: datetime,
    assessed_at: datetime | None = None,
    serial: str | None = None,
    check_url: str | None = None,
) -> PlacardData:
    """What the placard says, from the estate, its latest grade change (or none), the time of its latest
    assessment (排查登记, or none) and the policy."""
    tz = ZoneInfo(policy.timezone)
    colour_id = grade.colour if grade is not None else UNKNOWN
    assessed_until = assessed_at + policy.assessment.valid_for if assessed_at is not None else None
    colour = policy.colour(colour_id)
    if colour is not None:
        colour_zh, colour_en = colour.zh, colour.en
        meaning_zh, meaning_en = colour.meaning.zh, colour.meaning.en
    elif grade is None:
        colour_zh, colour_en = "暂无评定", "not graded"
        meaning_zh, meaning_en = "尚无评定记录", "no grade has been recorded yet"
    elif colour_id == NOT_ASSESSED:
        colour_zh, colour_en = "未评定", "not assessed"
        if assessed_at is None:
            meaning_zh, meaning_en = "尚未经街道排查登记", "not yet inspected and registered"
        elif assessed_until is not None and assessed_until <= now:
            meaning_zh, meaning_en = "排查登记已过期，待重新排查", "the assessment has expired"
        else:
            meaning_zh, meaning_en = "绿色条件证明到期，待重新确认", "evidence of a green condition is due"
    else:
        colour_zh, colour_en = "未知", "unknown"
        meaning_zh, meaning_en = "设备数据中断，暂无法判定", "every device is silent: grade not known"
    reasons = _reasons(grade, policy) if grade is not None else []
    return PlacardData(
        estate_id=estate.id,
        estate_name=estate.name,
        district=estate.district,
        street=estate.street,
        responsible=estate.property_company,
        colour=colour_id,
        colour_zh=colour_zh,
        colour_en=colour_en,
        meaning_zh=meaning_zh,
        meaning_en=meaning_en,
        graded_on=grade.at.astimezone(tz).date() if grade is not None else None,
        printed_on=now.astimezone(tz).date(),
        assessed_on=assessed_at.astimezone(tz).date() if assessed_at is not None else None,
        assessment_valid_until=assessed_until.astimezone(tz).date() if assessed_until is not None else None,
        hotline=hotline,
        reasons=tuple(reasons[:MAX_REASONS]),
        more_reasons=max(0, len(reasons) - MAX_REASONS),
        policy_zh=policy.name.zh,
        policy_en=policy.name.en,
        policy_ref=f"{policy.id} {policy.version}",
        legend=tuple(LegendEntry(c.id, c.zh, c.meaning.zh) for c in policy.colours),
        check_url=check_url,
        serial=serial,
    )


def _reasons(grade: GradeChangeRecord, policy: Policy) -> list[PlacardReason]:
    """What decided the colour first (the grade's decisive reasons: its items, or why it is not assessed or
    unknown), then the other red and yellow items and missing green conditions. Criteria are printed with
    the policy's name of the criterion (residents read the standard's words, not a device's detail); a
    green condition that is due, and what is not a criterion, with the grade's own sentence."""
    missing = set(grade.missing_green)
    out: list[PlacardReason] = []
    seen: set[str] = set()

    def add(code: str, decisive: bool, text: str = "") -> None:
        if code in seen:
            return
        seen.add(code)
        criterion = policy.criteria.get(code)
        category = policy.category(code) if criterion is not None else "yellow"
        if category == "green" and code not in missing and text:
            out.append(PlacardReason(code, _without_code(text, code), "", "green", decisive))
            return
        zh = criterion.zh if criterion else code
        en = criterion.en if criterion else ""
        if category == "green":
            zh, en = zh + "（未满足）", (en + " (not met)" if en else "")
        out.append(PlacardReason(code, zh, en, category, decisive))

    stored: list[dict[str, Any]] = list(grade.reasons or [])
    for reason in (r for r in stored if r.get("decisive")):
        codes = [c for c in reason.get("codes", []) if c in policy.criteria]
        if not codes:
            text = str(reason.get("text", ""))
            out.append(PlacardReason("", text, _english(text, policy), "", True))
            continue
        for code in codes:
            if policy.category(code) != "green" or code in missing or len(codes) == 1:
                add(code, True, str(reason.get("text", "")))
    for code in sorted({*grade.red_items, *grade.yellow_items, *missing}, key=criterion_order):
        add(code, False)
    decisive = [r for r in out if r.decisive]
    rest = sorted((r for r in out if not r.decisive), key=lambda r: criterion_order(r.code))
    return decisive + rest


def _without_code(text: str, code: str) -> str:
    """A grade's sentence about a condition without its leading code (the badge shows it)."""
    return text[len(code) :].lstrip() if text.startswith(code) else text


def _english(text: str, policy: Policy) -> str:
    """The English of a fixed policy sentence (not assessed, out of use), else nothing."""
    texts = policy.texts
    for t in (texts.not_assessed, texts.out_of_use):
        if text == policy.say(t):
            return t.en
    return ""


def placard_for(
    store: HazardStore,
    estate: Estate,
    policy: Policy,
    *,
    hotline: str,
    now: datetime,
    public_url: str | None = None,
) -> PlacardData:
    """The placard of an estate as the store has it: its latest grade change and latest assessment. With
    ``public_url`` and a grade on record, the placard gets its grade's serial (issued on first print) and a
    QR code to ``{public_url}/p/{serial}``, where a resident checks that it is still current."""
    latest = store.grades.history(estate.id, limit=1)
    serial = None
    if public_url and latest:
        serial = store.placards.serial_for(latest[0], now).serial
    assessed = next(
        (
            r.at
            for r in store.assessments.find([estate.id], include_voided=False)
            if r.kind == "assessment" and r.at <= now
        ),
        None,
    )
    return build_placard(
        estate,
        latest[0] if latest else None,
        policy,
        hotline=hotline,
        now=now,
        assessed_at=assessed,
        serial=serial,
        check_url=check_url(public_url, serial) if public_url and serial else None,
    )


# -- drawing ---------------------------------------------------------------------------------------------


class Surface(Protocol):
    """A page in PDF points, origin top-left; text is placed by its baseline."""

    def rect(self, x: float, y: float, w: float, h: float, fill: RGB, radius: float = 0.0) -> None: ...

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        colour: RGB,
        anchor: Anchor = "left",
        bold: bool = False,
    ) -> None: ...

    def width(self, text: str, size: float) -> float: ...


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-.,;:/()%'’&]*\s*|\s+|.")


def wrap(surface: Surface, text: str, size: float, width: float) -> list[str]:
    """Lines no wider than ``width``: Chinese breaks between characters, English between words."""
    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(text):
        if line and surface.width((line + token).rstrip(), size) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _fit(surface: Surface, text: str, size: float, width: float) -> float:
    """``size``, or smaller so that ``text`` fits on one line of ``width``."""
    actual = surface.width(text, size)
    return size if actual <= width else size * width / actual


def _layout(s: Surface, d: PlacardData) -> None:
    inner = PAGE_W - 2 * MARGIN
    centre = PAGE_W / 2

    # Title band.
    s.rect(0, 0, PAGE_W, 78, HEADER)
    title = "住宅小区消防安全分色预警公示牌"
    s.text(centre, 42, title, _fit(s, title, 25, inner), WHITE, "centre", bold=True)
    s.text(centre, 63, "Fire-safety grade of this residential estate", 10, (209, 213, 219), "centre")

    # The QR code to the public check page, top right; the estate's name then keeps clear of it.
    name_w = inner
    if d.check_url:
        qx, qy = QR_BOX
        draw_qr(s, d.check_url, qx, qy, QR_SIDE, INK)
        s.text(qx + QR_SIDE / 2, qy + QR_SIDE + 6, "扫码核验是否最新 Scan to check", 5.5, MUTED, "centre")
        name_w = inner - 2 * (QR_SIDE + 8)
    # The estate.
    name_size = _fit(s, d.estate_name, 30, name_w)
    s.text(centre, 122, d.estate_name, name_size, INK, "centre", bold=True)
    where = " · ".join(x for x in (d.district, d.street) if x)
    if where:
        s.text(centre, 148, where, 12, MUTED, "centre")

    # The colour field: a policy colour, or a neutral field for "not assessed" / "unknown" / no grade.
    fx, fy, fw, fh = COLOUR_FIELD
    fill = colour_rgb(d.colour)
    ink = _ink_on(fill)
    graded = d.colour not in NOT_A_GRADE
    s.rect(fx, fy, fw, fh, fill, radius=14)
    big = 84 if graded else 64
    s.text(centre, fy + 106, d.colour_zh, _fit(s, d.colour_zh, big, fw - 40), ink, "centre", bold=True)
    meaning_size = _fit(s, d.meaning_zh, 36 if graded else 24, fw - 40)
    s.text(centre, fy + 162, d.meaning_zh, meaning_size, ink, "centre", bold=True)
    english = f"{d.colour_en.upper()} · {d.meaning_en}"
    s.text(centre, fy + 204, english, _fit(s, english, 15, fw - 40), ink, "centre")

    # Legend: every colour of the policy with its meaning. Without a grade it is words only, no swatch of
    # a colour the estate does not have.
    y = fy + fh + 26
    entries = [(e, f"{e.zh} {e.meaning_zh}") for e in d.legend]
    if graded:
        gap, swatch, size = 18.0, 12.0, 10.0
        total = sum(swatch + 5 + s.width(label, size) for _, label in entries) + gap * (len(entries) - 1)
        x = centre - total / 2
        for entry, label in entries:
            s.rect(x, y - swatch + 1, swatch, swatch, colour_rgb(entry.colour), radius=2)
            x += swatch + 5
            s.text(x, y, label, size, INK)
            x += s.width(label, size) + gap
    else:
        note = "本小区暂未评定颜色；评定后按 " + " / ".join(label for _, label in entries) + " 公示"
        s.text(centre, y, note, _fit(s, note, 10, inner), MUTED, "centre")

    # Facts: two columns of label (zh, en small) and value.
    graded_on = d.graded_on.isoformat() if d.graded_on else "—"
    facts = [
        ("评定日期", "Graded on", graded_on),
        ("排查登记", "Assessed on", d.assessed_on.isoformat() if d.assessed_on else "未排查登记"),
        (
            "登记有效至",
            "Assessment valid until",
            d.assessment_valid_until.isoformat() if d.assessment_valid_until else "—",
        ),
        ("责任单位", "Responsible party", d.responsible or "—"),
        ("监督举报电话", "Hotline", d.hotline),
        ("打印日期", "Printed on", d.printed_on.isoformat()),
    ]
    col_w = inner / 2
    row_h = 36
    for i, (zh, en, value) in enumerate(facts):
        x = MARGIN + (i % 2) * col_w
        y = fy + fh + 56 + (i // 2) * row_h
        s.text(x, y, zh, 11, MUTED)
        s.text(x, y + 12, en, 7.5 if len(en) < 16 else 6.5, MUTED)
        value_x = x + 92
        s.text(value_x, y + 4, value, _fit(s, value, 15, col_w - 110), INK, bold=True)
    y = fy + fh + 56 + ((len(facts) + 1) // 2) * row_h
    s.rect(MARGIN, y - 6, inner, 0.8, (209, 213, 219))

    # Reasons: what decided the colour first.
    y += 18
    heading = "判定原因" if d.reasons and d.reasons[0].decisive else "主要原因"
    s.text(MARGIN, y, heading, 15, INK, bold=True)
    s.text(MARGIN + s.width(heading, 15) + 8, y, "Reasons, what decided first", 9, MUTED)
    y += 24
    bottom = PAGE_H - 66
    text_x = MARGIN + 40
    if not d.reasons:
        if d.colour == NOT_ASSESSED:
            zh, en = "尚未经街道排查登记，暂不评定颜色", "not yet inspected and registered: no colour yet"
        elif not graded:
            zh, en = "设备长时间无数据或尚无评定，暂无法判定风险等级", "no recent device data or no grade yet"
        else:
            zh, en = (
                "无红色、黄色隐患项，绿色条件均已满足",
                "no red or yellow items; every green condition holds",
            )
        s.text(MARGIN, y, zh, 12, INK)
        s.text(MARGIN, y + 13, en, 8.5, MUTED)
    shown = 0
    for reason in d.reasons:
        left = text_x if reason.code else MARGIN
        width = PAGE_W - MARGIN - left
        zh_lines = wrap(s, reason.zh, 12, width)
        en_lines = wrap(s, reason.en, 8.5, width) if reason.en else []
        needed = 16 * len(zh_lines) + 11 * len(en_lines)
        if y + needed > bottom:
            break
        if reason.code:
            # Without a grade, badges are neutral: a green badge must not make the estate look green.
            badge = CATEGORY_RGB.get(reason.category, OTHER_RGB) if graded else MUTED
            s.rect(MARGIN, y - 12, 32, 16, badge, radius=3)
            s.text(MARGIN + 16, y, reason.code, 10, _ink_on(badge), "centre", bold=True)
        for line in zh_lines:
            s.text(left, y, line, 12, INK, bold=reason.decisive and not reason.code)
            y += 16
        for line in en_lines:
            s.text(left, y - 2, line, 8.5, MUTED)
            y += 11
        y += 7
        shown += 1
    left_off = d.more_reasons + len(d.reasons) - shown
    if left_off:
        s.text(text_x, y, f"……另有 {left_off} 项（{left_off} more）", 10, MUTED)

    # Footer: the grading standard.
    s.rect(MARGIN, PAGE_H - 58, inner, 0.8, (209, 213, 219))
    footer = f"判定标准：{d.policy_zh}"
    s.text(MARGIN, PAGE_H - 40, footer, _fit(s, footer, 10, inner), MUTED)
    footer_en = f"Grading standard: {d.policy_en} ({d.policy_ref}) · estate {d.estate_id}"
    if d.serial:
        footer_en += f" · placard {d.serial}"
    s.text(MARGIN, PAGE_H - 26, footer_en, _fit(s, footer_en, 7.5, inner), MUTED)


# -- PDF (reportlab) ---------------------------------------------------------------------------------------


class _PdfSurface:
    def __init__(self, canvas: Canvas, font: str) -> None:
        self.c = canvas
        self.font = font

    def rect(self, x: float, y: float, w: float, h: float, fill: RGB, radius: float = 0.0) -> None:
        self.c.setFillColorRGB(*(v / 255 for v in fill))
        top = PAGE_H - y - h
        if radius:
            self.c.roundRect(x, top, w, h, radius, stroke=0, fill=1)
        else:
            self.c.rect(x, top, w, h, stroke=0, fill=1)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        colour: RGB,
        anchor: Anchor = "left",
        bold: bool = False,
    ) -> None:
        if anchor == "centre":
            x -= self.width(text, size) / 2
        elif anchor == "right":
            x -= self.width(text, size)
        # Bold is fill and stroke (the CJK fonts found here have one weight). The text render mode is
        # graphics state that outlives the text object, so each text is drawn inside save/restore.
        self.c.saveState()
        rgb = tuple(v / 255 for v in colour)
        self.c.setFillColorRGB(*rgb)
        self.c.setStrokeColorRGB(*rgb)
        self.c.setLineWidth(size * 0.035)
        t = self.c.beginText(x, PAGE_H - y)
        t.setFont(self.font, size)
        t.setTextRenderMode(2 if bold else 0)
        t.textOut(text)
        self.c.drawText(t)
        self.c.restoreState()

    def width(self, text: str, size: float) -> float:
        return float(stringWidth(text, self.font, size))


def render_placard_pdf(data: PlacardData, font: str | None = None) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    canvas.setTitle(f"{data.estate_name} 消防安全分色预警公示牌")
    canvas.setAuthor("firegw")
    canvas.setSubject(f"{data.estate_id}: {data.colour}")
    _layout(_PdfSurface(canvas, pdf_font(font)), data)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# -- PNG (Pillow) ------------------------------------------------------------------------------------------


_PIL_ANCHOR = {"left": "ls", "centre": "ms", "right": "rs"}


class _PngSurface:
    def __init__(self, image: Image.Image, font: FontFile) -> None:
        self.draw = ImageDraw.Draw(image)
        self.font = font
        self.k = image.width / PAGE_W

    def rect(self, x: float, y: float, w: float, h: float, fill: RGB, radius: float = 0.0) -> None:
        k = self.k
        box = (x * k, y * k, (x + w) * k, (y + h) * k)
        if radius:
            self.draw.rounded_rectangle(box, radius=radius * k, fill=fill)
        else:
            self.draw.rectangle(box, fill=fill)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        colour: RGB,
        anchor: Anchor = "left",
        bold: bool = False,
    ) -> None:
        k = self.k
        stroke = max(1, round(size * k * 0.03)) if bold else 0
        self.draw.text(
            (x * k, y * k),
            text,
            font=pil_font(self.font, size * k),
            fill=colour,
            anchor=_PIL_ANCHOR[anchor],
            stroke_width=stroke,
            stroke_fill=colour,
        )

    def width(self, text: str, size: float) -> float:
        return float(pil_font(self.font, size * self.k).getlength(text)) / self.k


def colour_field_px(size: tuple[int, int] = PNG_SIZE) -> tuple[int, int, int, int]:
    """The colour field's box in PNG pixels (left, top, right, bottom)."""
    k = size[0] / PAGE_W
    x, y, w, h = COLOUR_FIELD
    return round(x * k), round(y * k), round((x + w) * k), round((y + h) * k)


def render_placard_png(data: PlacardData, font: str | None = None) -> bytes:
    """The placard at 150 dpi (``PNG_SIZE``); ``FontMissing`` when no CJK font is installed."""
    font_file = pil_font_file(font)
    image = Image.new("RGB", PNG_SIZE, WHITE)
    _layout(_PngSurface(image, font_file), data)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, dpi=(150, 150))
    return buffer.getvalue()


def render_placard(data: PlacardData, fmt: Format, font: str | None = None) -> bytes:
    return render_placard_pdf(data, font) if fmt == "pdf" else render_placard_png(data, font)
