"""A scripted walk through the console in headless Chromium (Playwright), with a screenshot per page: used by
``tests/test_console_browser.py`` and ``tools/console-screenshots``.

``seed_demo`` fills a fresh server with what makes every page worth looking at: an enrolled-looking kiosk
with a heartbeat (an open door, a suspect locker, an alarm), one that never connected, reservations in
several states and a month of collections for the figures. Playwright is a test dependency; it is imported
only when the tour runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from townhall import exchange, services
from townhall.runtime import Townhall

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_NATIONAL_NUMBER = "85073003328"  # made up, valid check number
KIOSK = "aalter-1"


def seed_demo(th: Townhall, *, username: str, password: str) -> None:
    services.create_user(th, username, password)
    services.create_kiosk(th, KIOSK, "Aalter town hall")
    services.create_kiosk(th, "aalter-2", "Aalter library")
    now = th.now()
    zone = th.config.zone
    # a month of collections: loaded in the morning, collected at various hours (some outside opening hours)
    month_start = (now.astimezone(zone) - timedelta(days=28)).replace(hour=0, minute=0, second=0, microsecond=0)
    events = []
    for n, (ready_h, collect_day, collect_h) in enumerate([(9, 0, 10), (10, 1, 20), (9, 2, 7), (11, 3, 22),
                                                          (9, 4, 11), (10, 7, 18)]):
        created = services.create_reservation(
            th, kiosk_id=KIOSK, product="vouchers", citizen=services.Citizen(f"Citizen {n + 1}"), notify=False,
            created_by="demo")
        ready = month_start + timedelta(days=n, hours=ready_h)
        collected = month_start + timedelta(days=n + collect_day, hours=collect_h)
        events.append(exchange.IncomingEvent(f"demo-load-{n}", "reservation.loaded", {
            "reservation": created.reservation.id, "locker": 9, "loaded_at": ready.isoformat()}, ready))
        events.append(exchange.IncomingEvent(f"demo-collect-{n}", "pickup.collected", {
            "reservation": created.reservation.id, "locker": 9, "collected_at": collected.isoformat()}, collected))
    ready_one = services.create_reservation(
        th, kiosk_id=KIOSK, product="room-key", kind="loan", tags=["0A1B2C3E01"],
        citizen=services.Citizen("Vereniging De Klaproos", "klaproos@example.org"), created_by=username)
    events.append(exchange.IncomingEvent("demo-load-key", "reservation.loaded", {
        "reservation": ready_one.reservation.id, "locker": 2, "loaded_at": now.isoformat()}, now))
    events.append(exchange.IncomingEvent("demo-alarm", "alarm.door_forced", {"locker": 4, "at": now.isoformat()},
                                         now))
    exchange.receive_events(th, KIOSK, events)
    services.create_reservation(th, kiosk_id=KIOSK, product="driving-licence",
                                citizen=services.Citizen("Jan Janssens", "jan@example.org"), created_by=username,
                                national_number=DEMO_NATIONAL_NUMBER)
    lockers = [{"locker": n, "contents": "empty", "flags": []} for n in range(1, 10)]
    lockers[1]["contents"] = "ready"
    lockers[5]["flags"] = ["suspect"]
    lockers[6]["contents"] = "returned"
    exchange.record_heartbeat(th, KIOSK, {
        "at": now.isoformat(), "doors": {str(n): "open" if n == 4 else "closed" for n in range(1, 10)},
        "lockers": lockers, "alarms": [{"kind": "door_forced", "locker": 4, "device": None,
                                        "raised_at": now.isoformat()}],
        "outbox_depth": 2, "versions": {"kioskd": "0.1.0", "api": 1}})
    exchange.touch(th, KIOSK)


@dataclass
class TourResult:
    screenshots: list[Path]
    reservation_id: str
    pin: str
    listed: bool
    grid_lockers: int


def take_tour(base_url: str, out_dir: Path, *, username: str, password: str,
              executable: str = CHROMIUM) -> TourResult:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    def shot(page, name: str) -> None:
        path = out_dir / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(10_000)
            page.goto(f"{base_url}/console/")
            page.wait_for_url("**/console/login**")
            shot(page, "login")
            page.get_by_label("User name").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base_url}/console/")
            page.get_by_role("heading", name="Kiosks", level=1).wait_for()
            shot(page, "dashboard")

            page.get_by_role("link", name="New reservation").first.click()
            page.get_by_label("Kiosk", exact=True).select_option(KIOSK)
            page.get_by_label("Product", exact=True).select_option("room-key")
            page.get_by_label("Loan — RFID-tagged items").check()
            page.get_by_label("RFID tags of the items").fill("0A1B2C3E77, 0A1B2C3E78")
            page.get_by_label("Name", exact=True).fill("Sofie Claes")
            page.get_by_label("E-mail (optional)").fill("sofie@example.org")
            page.get_by_label("Awaiting stock").check()
            shot(page, "new-reservation")
            page.get_by_role("button", name="Create reservation").click()
            heading = page.get_by_role("heading", level=1)
            heading.wait_for()
            title = heading.inner_text()
            assert title.endswith(" created"), title
            reservation_id = title.split()[1]
            pin = page.locator(".secret").inner_text().replace(" ", "")
            shot(page, "reservation-created")

            page.get_by_role("link", name="Reservations", exact=True).click()
            page.get_by_role("heading", name="Reservations", level=1).wait_for()
            listed = page.get_by_role("link", name=reservation_id).count() == 1
            shot(page, "reservations")
            page.get_by_role("link", name=reservation_id).click()
            page.get_by_role("heading", name="States over time").wait_for()
            shot(page, "reservation")

            page.goto(f"{base_url}/console/kiosks/{KIOSK}")
            page.get_by_role("heading", name="Lockers").wait_for()
            grid_lockers = page.locator("ul.grid > li").count()
            shot(page, "kiosk-grid")
            page.get_by_role("link", name="Event log").click()
            page.get_by_role("heading", name="Event log", level=1).wait_for()
            shot(page, "events")
            page.get_by_role("link", name="Figures").click()
            page.get_by_role("heading", name="Figures", level=1).wait_for()
            shot(page, "kpis")

            # 200 % zoom: half the CSS width at twice the pixel density
            zoomed = browser.new_page(viewport={"width": 640, "height": 400}, device_scale_factor=2)
            zoomed.context.add_cookies(page.context.cookies())
            for name, path in (("dashboard-200pct", "/console/"), ("kiosk-grid-200pct", f"/console/kiosks/{KIOSK}"),
                               ("new-reservation-200pct", "/console/reservations/new")):
                zoomed.goto(f"{base_url}{path}")
                shot(zoomed, name)
        finally:
            browser.close()
    return TourResult(shots, reservation_id, pin, listed, grid_lockers)


def fixed_clock(when: datetime):
    """A clock standing at ``when`` (aware), for reproducible screenshots."""
    stamp = when.timestamp()
    return lambda: stamp
