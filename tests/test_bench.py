"""tools/bench/run --quick prints one JSON document with every figure beside its baseline.

No timing assertions: figures belong in the benchmark (docs/benchmarks.md), not in tests.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "bench"))


def has_figure(node: dict) -> bool:
    return all(key in node for key in ("median", "p95", "runs", "baseline")) and \
        all(key in node["baseline"] for key in ("median", "p95", "runs"))


def test_quick_run_has_every_figure():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "run"), "--quick"], capture_output=True,
                         text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    for name in ("scan_to_relay_ms", "touch_to_frame_ms", "idle_cpu_percent", "start_to_ready_ms",
                 "resident_memory_mb", "memory_growth_mb"):
        assert has_figure(doc[name]), name
        assert "ratio" in doc[name]
    for name in ("scan_to_relay_ms", "idle_cpu_percent", "start_to_ready_ms", "resident_memory_mb",
                 "memory_growth_mb"):
        assert isinstance(doc[name]["met"], bool) and doc[name]["target"]
    sets = doc["qr_decode"]["sets"]
    assert {"generated_tuning", "generated_held_out"} <= set(sets)
    for result in [*sets.values(), *doc["qr_decode"]["folders"].values()]:
        assert has_figure(result["decode_rate"]) and has_figure(result["ms_per_frame"])
    assert set(doc["targets_met"].values()) <= {True, False}


def test_generated_captures_are_deterministic_and_disjoint():
    import qr_captures

    a, b = qr_captures.generate(5, 3), qr_captures.generate(5, 3)
    assert [c.text for c in a] == [c.text for c in b]
    assert all((x.frame == y.frame).all() for x, y in zip(a, b, strict=True))
    assert all(c.frame.shape == (480, 640, 3) and c.frame.dtype.name == "uint8" for c in a)
    held_out = qr_captures.held_out_set(3)
    assert not {c.text for c in held_out} & {c.text for c in qr_captures.tuning_set(3)}


def test_eid_bench_prints_each_figure_beside_its_baseline():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "eid_read.py"), "--runs", "3"],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    for kind in ("ec", "rsa"):
        node = doc["read_and_verify_ms"][kind]
        assert node["value"]["runs"] == 3 and node["baseline_verify_only"]["median"] > 0 and node["ratio"] > 0
    node = doc["card_to_relay_ms"]
    assert node["value"]["runs"] == 5 and node["baseline_pin_ok_to_relay"]["median"] > 0
