"""Write a PNG of every screen, in every language, on a landscape and a portrait screen.

Usage: ``python -m kioskd.ui.gallery OUTDIR``. For reviewing layout, wrapping and translations by eye,
and for translators who want to see their text in place; it draws off-screen and needs no display.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from kioskd.ui.screens import ERROR_REASONS, Layout, build_screen

# The Aalter pilot's bank: small doors on top, large ones at the bottom.
SAMPLE_LOCKERS = tuple((row * 3 + column + 1, row + 1, column + 1, "SML"[row]) for row in range(3)
                       for column in range(3))
SAMPLE_CONTACT = "Town hall Aalter · 09 325 04 00 · Mon–Fri 9:00–12:00"
LAYOUTS = {
    "landscape": Layout(1280, 800, SAMPLE_LOCKERS, contact=SAMPLE_CONTACT),
    "portrait": Layout(1080, 1920, SAMPLE_LOCKERS, contact=SAMPLE_CONTACT),
}


def sample_screens() -> Iterator[tuple[str, str, Mapping]]:
    """(file stem, screen, params): each screen once, and its variants that change the wording."""
    yield "attract", "attract", {"qr_available": True}
    yield "method", "method", {"qr_available": True}
    yield "pin", "pin", {"entered": 3, "length": 8}
    yield "scan", "scan", {}
    yield "checking", "checking", {}
    yield "locker_open", "locker_open", {"locker": 5, "retry": False}
    yield "locker_open-retry", "locker_open", {"locker": 8, "retry": True}
    yield "close_door", "close_door", {"locker": 5, "reminder": False}
    yield "close_door-reminder", "close_door", {"locker": 5, "reminder": True}
    yield "thanks", "thanks", {"locker": 5, "can_reopen": True, "reopen_seconds": 60}
    for reason in ERROR_REASONS:
        yield f"error-{reason}", "error", {"reason": reason, "locked_seconds": 150, "locker": 5}
    yield "help", "help", {"reason": "door_not_opened", "locker": 5}
    yield "timeout", "timeout", {"seconds": 15}
    yield "return_info", "return_info", {}
    yield "out_of_service", "out_of_service", {}


def write_gallery(out: Path, languages: tuple[str, ...] = ("nl", "fr", "en")) -> list[Path]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from kioskd.ui.render import Renderer

    pygame.font.init()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for layout_name, layout in LAYOUTS.items():
        renderer = Renderer(pygame.Surface((layout.width, layout.height)))
        for stem, screen, params in sample_screens():
            for lang in languages:
                renderer.draw(build_screen(screen, params, lang, layout))
                path = out / f"{layout_name}-{stem}-{lang}.png"
                pygame.image.save(renderer.surface, str(path))
                written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kioskd.ui.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    written = write_gallery(args.outdir)
    print(f"{len(written)} screenshots written to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
