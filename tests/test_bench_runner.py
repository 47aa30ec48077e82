"""``bench/run_all.py`` (what ``make bench`` runs) on stand-in benchmark scripts: every script runs
even after one falls short, a miss is run again and judged on the median, a crash is an error,
one table lists it all, and the exit status says whether every goal was met."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SCRIPT = '''
import json, pathlib, sys
runs = pathlib.Path(__file__).with_suffix(".runs")
count = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(count))
values = {values!r}
if values is None:
    raise SystemExit("the benchmark broke")
measured = values[min(count, len(values)) - 1]
print("a report for people")
print("BENCH-RESULT " + json.dumps({{"bench": {name!r}, "checks": [
    {{"name": "ratio", "measured": measured, "op": ">=", "goal": 0.9}}]}}))
'''


def write_bench(folder: Path, name: str, values: list[float] | None) -> Path:
    path = folder / f"bench_{name}.py"
    path.write_text(SCRIPT.format(name=name, values=values))
    return path


def runs_of(script: Path) -> int:
    return int(script.with_suffix(".runs").read_text())


def run_all(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "bench/run_all.py", *map(str, args)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_benchmark_runs_and_one_table_judges_them(tmp_path: Path) -> None:
    missing = write_bench(tmp_path, "missing", [0.5, 0.7])  # median 0.6: still short
    broken = write_bench(tmp_path, "broken", None)
    noisy = write_bench(tmp_path, "noisy", [0.5, 1.5])  # a bad round, then a good one: median 1.0
    steady = write_bench(tmp_path, "steady", [0.95])
    done = run_all("--retries", "1", missing, broken, noisy, steady)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (runs_of(missing), runs_of(broken), runs_of(noisy), runs_of(steady)) == (2, 1, 2, 1)
    assert "a report for people" in done.stdout and "BENCH-RESULT" not in done.stdout
    table = done.stdout[done.stdout.index("benchmark  "):]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.strip() and line[0] != " "}
    assert rows["missing"][1:] == ["ratio", ">=", "0.9", "0.600", "2", "FAIL"]
    assert rows["noisy"][1:] == ["ratio", ">=", "0.9", "1.000", "2", "pass"]
    assert rows["steady"][1:] == ["ratio", ">=", "0.9", "0.950", "1", "pass"]
    assert " ".join(rows["broken"][1:3]) == "(no result)" and "ERROR: exited with 1" in " ".join(rows["broken"])
    assert "2 of 4 benchmarks meet their goals; short: missing, broken" in done.stdout


def test_all_goals_met_is_success(tmp_path: Path) -> None:
    done = run_all(write_bench(tmp_path, "steady", [0.95]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of 1 benchmarks meet their goals" in done.stdout


def test_a_benchmark_that_cannot_run_here_is_skipped_not_failed(tmp_path: Path) -> None:
    """A peer that cannot be installed (no network) must not fail the run: one SKIP line says why."""
    skipped = tmp_path / "bench_peerless.py"
    skipped.write_text(f"import sys\nsys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
                       "from bench.results import skip\nskip('peerless', 'the peer is not installable here')\n")
    done = run_all(skipped, write_bench(tmp_path, "steady", [0.95]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIP: the peer is not installable here" in done.stdout
    table = done.stdout[done.stdout.index("benchmark  "):]
    assert any(line.startswith("peerless") and line.rstrip().endswith("skip") for line in table.splitlines())
    assert "2 of 2 benchmarks meet their goals" in done.stdout

