"""The staff console driven in headless Chromium (Debian's /usr/bin/chromium through Playwright) against the
server served by uvicorn on 127.0.0.1: log in, create a loan, see it listed, open the kiosk's locker grid,
with a screenshot of every page under tmp_path (``tools/console-screenshots`` writes the same set to
screenshots/console/ for people to look at)."""

import secrets
from pathlib import Path

import pytest
from townhall_helpers import Clock, make_config, served

from townhall import services
from townhall.app import create_app
from townhall.console.queries import PILOT_OPENING_HOURS
from townhall.console.tour import CHROMIUM, seed_demo, take_tour

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is absent (Debian package chromium; tools/install-system-deps.sh)")


def test_console_in_headless_chromium(tmp_path):
    app = create_app(make_config(tmp_path, opening_hours=PILOT_OPENING_HOURS), clock=Clock())
    th = app.state.townhall
    password = secrets.token_urlsafe(12)
    try:
        seed_demo(th, username="anna", password=password)
        with served(app) as url:
            result = take_tour(url, tmp_path / "shots", username="anna", password=password)
        assert result.listed, "the new reservation is in the list"
        assert result.grid_lockers == 9
        assert len(result.pin) == th.config.pin_length and result.pin.isdigit()
        view = services.get_reservation(th, result.reservation_id)
        assert (view.kind, view.status, view.citizen_name) == ("loan", "awaiting_stock", "Sofie Claes")
        assert view.tags == ["0A1B2C3E77", "0A1B2C3E78"]
        names = [path.name for path in result.screenshots]
        assert names[:3] == ["01-login.png", "02-dashboard.png", "03-new-reservation.png"]
        assert "07-kiosk-grid.png" in names and len(names) == 12
        for path in result.screenshots:
            assert path.stat().st_size > 5000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        th.close()
