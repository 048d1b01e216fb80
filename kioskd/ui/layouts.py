"""The screen layout a config describes: size in pixels and millimetres, the locker bank, help texts."""

from __future__ import annotations

from kioskd.config import Config
from kioskd.ui.frame import Layout


def layout_from_config(config: Config) -> Layout:
    ui = config.ui
    screen_mm = (ui.screen_width_mm, ui.screen_height_mm) if ui.screen_width_mm and ui.screen_height_mm else None
    return Layout(width=ui.width, height=ui.height,
                  lockers=tuple((s.number, s.row, s.column, s.size) for s in config.lockers),
                  languages=config.kiosk.languages, contact=config.kiosk.contact, screen_mm=screen_mm,
                  large_text=ui.large_text, opening_hours=config.kiosk.opening_hours)
