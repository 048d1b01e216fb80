"""The screen layout a config describes: size in pixels and millimetres, the locker bank, help texts."""

from __future__ import annotations

import dataclasses

from kioskd.config import Config
from kioskd.ui.frame import Layout


def layout_from_config(config: Config) -> Layout:
    ui = config.ui
    extra = {}
    names = {f.name for f in dataclasses.fields(Layout)}
    if "screen_mm" in names and ui.screen_width_mm and ui.screen_height_mm:
        extra["screen_mm"] = (ui.screen_width_mm, ui.screen_height_mm)
    if "large_text" in names:
        extra["large_text"] = ui.large_text
    if "opening_hours" in names:
        extra["opening_hours"] = config.kiosk.opening_hours
    return Layout(width=ui.width, height=ui.height,
                  lockers=tuple((s.number, s.row, s.column, s.size) for s in config.lockers),
                  languages=config.kiosk.languages, contact=config.kiosk.contact, **extra)
