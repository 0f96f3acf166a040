"""Fonts that can set Chinese: found once, used by the PDF (reportlab) and PNG (Pillow) renderers.

Where a font comes from, in order:

1. ``[reports] font`` in gateway.toml (a ``.ttf``, ``.ttc`` or ``.otf`` path; ``path#N`` picks face N of a
   collection). A configured path that does not exist is an error, not a silent fallback.
2. Known install paths of free CJK fonts (WenQuanYi Zen Hei from Debian's ``fonts-wqy-zenhei``, WenQuanYi
   Micro Hei, Droid Sans Fallback, AR PL UMing, Noto Sans CJK SC) and of the usual macOS/Windows fonts.
3. fontconfig (``fc-list :lang=zh``), when it is installed.

PDF: reportlab embeds TrueType outlines only (Noto Sans CJK is CFF-flavoured OpenType, which it refuses), so
the first candidate that reportlab accepts is embedded as a subset; with none it falls back to reportlab's
built-in CID font ``STSong-Light`` (not embedded: readers substitute a Song face, and text stays selectable).
PNG: Pillow (FreeType) reads every format above; with none it fails with ``FontMissing``, whose message says
what to install. No well-kept PyPI package ships a CJK font (the few that do are single 0.x releases by one
author), so the font comes from the system: ``apt-get install fonts-wqy-zenhei``, which
``scripts/ensure-services.sh`` installs on the test machines.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

INSTALL_HINT = (
    "install a CJK font: apt-get install fonts-wqy-zenhei (Debian/Ubuntu), "
    'or set [reports] font = "/path/to/font.ttc" in gateway.toml'
)

#: reportlab's built-in Adobe CID font for simplified Chinese: always available, never embedded.
CID_FALLBACK = "STSong-Light"


class FontMissing(RuntimeError):
    """No usable CJK font; the message says what to install or configure."""


@dataclass(frozen=True, slots=True)
class FontFile:
    path: Path
    #: Face index inside a ``.ttc``/``.otc`` collection.
    index: int = 0

    def __str__(self) -> str:
        return f"{self.path}#{self.index}" if self.index else str(self.path)


#: Free CJK fonts where Linux distributions install them, then macOS and Windows system fonts.
KNOWN_FONTS: tuple[FontFile, ...] = (
    FontFile(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
    FontFile(Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc")),
    FontFile(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")),
    FontFile(Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc")),
    FontFile(Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),
    FontFile(Path("/usr/share/fonts/truetype/arphic/uming.ttc")),
    # Noto Sans CJK collections: face 2 is Simplified Chinese (JP, KR, SC, TC, HK).
    FontFile(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    FontFile(Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"), 2),
    FontFile(Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"), 2),
    FontFile(Path("/System/Library/Fonts/PingFang.ttc")),
    FontFile(Path("/System/Library/Fonts/STHeiti Light.ttc")),
    FontFile(Path("C:/Windows/Fonts/msyh.ttc")),
    FontFile(Path("C:/Windows/Fonts/simhei.ttf")),
)


def parse_font_setting(value: str | Path) -> FontFile:
    """``/path/font.ttc`` or ``/path/font.ttc#2`` (face 2 of a collection)."""
    text = str(value)
    path, sep, index = text.rpartition("#")
    if sep and index.isdigit():
        return FontFile(Path(path), int(index))
    return FontFile(Path(text))


def _fontconfig_candidates() -> list[FontFile]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run(
            [fc_list, "-f", "%{file}|%{index}\n", ":lang=zh"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in sorted(out.splitlines()):
        path, _, index = line.partition("|")
        if path:
            found.append(FontFile(Path(path), int(index) if index.isdigit() else 0))
    return found


def candidates(configured: str | Path | None = None) -> list[FontFile]:
    """Fonts to try, best first. A configured font is the only candidate, and must exist."""
    if configured:
        font = parse_font_setting(configured)
        if not font.path.is_file():
            raise FontMissing(f"[reports] font: {font.path} does not exist; {INSTALL_HINT}")
        return [font]
    found = [f for f in KNOWN_FONTS if f.path.is_file()]
    return found or _fontconfig_candidates()


# -- PDF -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _register_ttf(path: str, index: int) -> str | None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = f"firegw-cjk-{Path(path).stem}-{index}"
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    except (TTFError, OSError, ValueError):
        return None  # CFF outlines, a damaged file...: try the next one
    return name


@lru_cache(maxsize=1)
def _register_cid() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CID_FALLBACK


def pdf_font(configured: str | Path | None = None) -> str:
    """The reportlab font name to set Chinese in: an embedded TrueType font, else ``STSong-Light``."""
    for font in candidates(configured):
        name = _register_ttf(str(font.path), font.index)
        if name is not None:
            return name
    if configured:
        raise FontMissing(
            f"[reports] font: reportlab cannot embed {configured} (it needs TrueType outlines, e.g. "
            "wqy-zenhei.ttc; CFF-based .otf/.otc fonts are refused)"
        )
    return _register_cid()


# -- PNG -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _pil_font(path: str, index: int, size: int) -> FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index)


def pil_font_file(configured: str | Path | None = None) -> FontFile:
    """The font Pillow will draw Chinese with, or ``FontMissing`` saying what to install."""
    for font in candidates(configured):
        try:
            _pil_font(str(font.path), font.index, 12)
        except OSError:
            continue
        return font
    raise FontMissing(f"no CJK font found for PNG rendering; {INSTALL_HINT}")


def pil_font(font: FontFile, size: float) -> FreeTypeFont:
    return _pil_font(str(font.path), font.index, max(1, round(size)))
