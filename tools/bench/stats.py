"""Shared helpers for the benchmark pieces: one figure is a median, a p95 and how many runs made it."""

from __future__ import annotations

import statistics


def figure(samples: list[float], digits: int = 3) -> dict:
    if not samples:
        return {"median": None, "p95": None, "runs": 0}
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), digits), "p95": round(p95, digits), "runs": len(ordered)}


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)


def run_loop_while(kiosk, body) -> None:
    """Run ``body`` in a thread while the kiosk's production loop (``Kiosk.run``) runs here, as on a real
    kiosk; the loop stops when ``body`` returns, and an exception in ``body`` is raised here afterwards."""
    import threading

    stop = threading.Event()
    errors: list[BaseException] = []

    def driver() -> None:
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the loop stopped
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=driver)
    thread.start()
    kiosk.run(stop)
    thread.join()
    if errors:
        raise errors[0]
