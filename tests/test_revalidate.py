"""bench/revalidate.py: a validation run's measurements re-predicted against another hardware spec; --phase PHASE
re-predicts that phase's points alone."""
import json
from pathlib import Path

from helpers import bench_module

ROOT = Path(__file__).resolve().parent.parent
VALIDATE = ROOT / "reports" / "h200" / "validate-expected.json"
HW = ROOT / "reports" / "h200" / "h200.yaml"


def test_phase_reprices_that_phases_points_alone(tmp_path, capsys):
    """--phase prefill: the prefill points are the full re-render's, every other point is the input's as it was, and
    the notes say both (with the command)."""
    mod = bench_module("revalidate")
    full, only = tmp_path / "full", tmp_path / "prefill"
    assert mod.main([str(VALIDATE), str(HW), str(full)]) == 0
    assert mod.main([str(VALIDATE), str(HW), str(only), "--phase", "prefill"]) == 0
    capsys.readouterr()
    src = json.loads(VALIDATE.read_text())
    a, b = (json.loads((d / "validate.json").read_text()) for d in (full, only))
    phases = [p["config"]["phase"] for p in src["points"]]
    assert "prefill" in phases and "decode" in phases
    for phase, p, q, r in zip(phases, src["points"], a["points"], b["points"], strict=True):
        assert r == (q if phase == "prefill" else p)
    note = b["meta"]["repredicted"]
    assert note.startswith(f"{phases.count('prefill')} prefill points' predictions recomputed")
    assert src["meta"]["repredicted"] in note and note.endswith(f"{only} --phase prefill`)")
    assert b["meta"]["hardware_path"] == str(HW)


def test_a_bad_phase_is_the_usage_line(tmp_path, capsys):
    mod = bench_module("revalidate")
    assert mod.main([str(VALIDATE), str(HW), str(tmp_path), "--phase", "warmup"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[--phase PHASE]" in err
