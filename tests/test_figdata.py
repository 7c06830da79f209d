"""Figure-data cache: generation, resume, stale/corrupt/edited detection, sizes, drift detection, CLI.

The book's own caches against the current code: tests/test_cached_data.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qnn import figdata
from qnn.__main__ import main as cli

ROOT = Path(__file__).resolve().parents[1]


def toy_task(task: dict) -> dict:
    """A cheap deterministic 'simulation': mean of squared Gaussians, seeded by the task."""
    flag = task.get("fail_flag")
    if flag and task["rep"] == 1 and task["alpha"] == 0.2 and Path(flag).exists():
        Path(flag).unlink()
        raise KeyboardInterrupt  # simulates Ctrl-C in the middle of a run
    rng = np.random.default_rng(task["seed"])
    values = rng.standard_normal(task["d"]) ** 2 * task["alpha"]
    return {"mse": float(values.mean()) * task.get("scale", 1.0), "curve": values[:3]}


TOY_CHECKS = {"mse": figdata.close(1e-9, 0.0, "toy: exact arithmetic"),
              "curve": figdata.close(1e-9, 0.0, "toy: exact arithmetic")}


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """Register a toy figure in an isolated registry and data folders."""
    monkeypatch.setattr(figdata.specs, "_REGISTRY", dict(figdata.registry()))
    monkeypatch.setenv("QNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QNN_PARTIAL_DIR", str(tmp_path / "partial"))

    def make(version="1", fixed=None, compute=toy_task, **grid):
        figdata.specs._REGISTRY.pop("toy", None)
        figdata.register("toy", d=5, reps=3, version=version, grid=grid or {"alpha": [0.1, 0.2], "lam": [0, 1]},
                         fixed=fixed or {"kappa": 0.5}, shared_seed=("lam",), description="toy",
                         checks=TOY_CHECKS)(compute)
        return figdata.spec("toy")

    return make


def _edit(path: Path, change, reseal: bool = True) -> None:
    """Apply ``change(payload)`` to a cache file; re-seal its checksum (a careful forger) unless told not to."""
    payload = json.loads(path.read_text())
    change(payload)
    if reseal:
        payload["checksum"] = figdata.checksum(payload)
    path.write_text(json.dumps(payload))


def test_tasks_and_seeds(toy):
    figure = toy()
    tasks = figdata.tasks_of(figure)
    assert len(tasks) == 2 * 2 * 3 == figdata.task_count(figure)
    assert tasks[0] == {"kappa": 0.5, "alpha": 0.1, "lam": 0, "d": 5, "rep": 0, "seed": tasks[0]["seed"]}
    seeds = {(t["alpha"], t["lam"], t["rep"]): t["seed"] for t in tasks}
    # lam shares seeds (same teacher/data across lam), alpha and rep do not
    assert seeds[(0.1, 0, 0)] == seeds[(0.1, 1, 0)]
    assert seeds[(0.1, 0, 0)] != seeds[(0.2, 0, 0)] != seeds[(0.2, 0, 1)]
    assert figdata.tasks_of(figure) == tasks  # reproducible
    # adding repetitions keeps the existing seeds
    assert [t["seed"] for t in figdata.tasks_of(figure, reps=4) if t["rep"] < 3] == [t["seed"] for t in tasks]


def test_theory_specs_have_no_sizes():
    """Theory figures carry no placeholder d/reps: their tasks are the grid points alone."""
    figure = figdata.spec("theory_fig2")
    assert (figure.d, figure.reps, figure.params()) == (None, None, {})
    assert not {"d", "rep", "seed"} & set(figdata.tasks_of(figure)[0])
    with pytest.raises(ValueError, match="has no d"):
        figdata.tasks_of(figure, d=10)
    assert figdata.load("theory_fig2").d is None


def test_generate_load_and_stats(toy, tmp_path):
    figure = toy()
    path = figdata.generate("toy", progress=False)
    assert path == tmp_path / "data" / "toy.json"
    data = figdata.load("toy")
    assert (data.d, data.reps, len(data.results)) == (5, 3, 12)
    for task, result in zip(data.tasks, data.results):
        assert figdata.compare_results(figure, result, figdata.compute_task(figure, task)) == []
    stats = data.stats("mse", by=("alpha", "lam"))
    assert list(stats["count"]) == [3, 3, 3, 3]
    first = [r["mse"] for t, r in zip(data.tasks, data.results) if t["alpha"] == 0.1 and t["lam"] == 0]
    assert stats["mean"][0] == pytest.approx(np.mean(first))
    assert stats["two_std"][0] == pytest.approx(2 * np.std(first, ddof=0))
    assert not (tmp_path / "partial").exists() or not any((tmp_path / "partial").iterdir())


def test_parallel_equals_serial(toy, tmp_path):
    toy()
    serial = json.loads(figdata.generate("toy", progress=False).read_text())["results"]
    parallel = json.loads(figdata.generate("toy", jobs=2, progress=False).read_text())["results"]
    assert serial == parallel


def test_interrupted_run_resumes(toy, tmp_path):
    flag = tmp_path / "fail-once"
    flag.touch()
    figure = toy(fixed={"kappa": 0.5, "fail_flag": str(flag)})
    with pytest.raises(KeyboardInterrupt):
        figdata.generate("toy", progress=False)
    partial = list((tmp_path / "partial").glob("toy-*/task-*.json"))
    assert 0 < len(partial) < 12
    assert not (tmp_path / "data" / "toy.json").exists()
    calls = []
    original = figdata.runner._run_one
    figdata.runner._run_one = lambda compute, index, task: (calls.append(index), original(compute, index, task))[1]
    try:
        figdata.generate("toy", progress=False)
    finally:
        figdata.runner._run_one = original
    assert len(calls) == 12 - len(partial)  # only the unfinished tasks were recomputed
    data = figdata.load("toy")
    for task, result in zip(data.tasks, data.results):
        fresh = figdata.store.jsonable(toy_task({**task, "fail_flag": None}))
        assert figdata.compare_results(figure, result, fresh) == []


def test_missing_stale_and_corrupt_caches_are_reported(toy, tmp_path):
    toy()
    with pytest.raises(figdata.CacheError, match="python -m qnn data toy"):
        figdata.load("toy")
    path = figdata.generate("toy", progress=False)
    with pytest.raises(figdata.CacheError, match=r"d=5, expected 7.*python -m qnn data toy --d 7 --force$"):
        figdata.load("toy", d=7)  # the suggested command must run: other sizes in the book's folder need --force
    with pytest.raises(figdata.CacheError, match=r"expected 7.*python -m qnn data toy --d 7 --out \S+$"):
        figdata.load("toy", d=7, data_dir=path.parent)
    toy(version="2")
    with pytest.raises(figdata.CacheError, match="stale.*v1.*v2"):
        figdata.load("toy")
    toy(version="1", alpha=[0.1, 0.3], lam=[0, 1])
    with pytest.raises(figdata.CacheError, match="task list differs"):
        figdata.load("toy")
    toy()
    figdata.load("toy")
    path.write_text(path.read_text()[:-20])
    with pytest.raises(figdata.CacheError, match="corrupt"):
        figdata.load("toy")


@pytest.mark.parametrize("change, reseal, message", [
    (lambda p: p["results"][7].update(mse=p["results"][7]["mse"] * (1 + 1e-9)), False, "checksum"),
    (lambda p: p["results"][3]["curve"].append(0.5), False, "checksum"),
    (lambda p: p["results"][5].update(mse=float("nan")), True, "corrupt|non-finite"),
    (lambda p: p["results"][5].update(mse="0.1"), True, "finite number"),
    (lambda p: p["results"][2].pop("curve"), True, "missing keys"),
    (lambda p: p["results"].__setitem__(0, {}), True, "missing keys"),
    (lambda p: p["results"][0].update(extra=1.0), True, "undeclared keys"),
    (lambda p: p["results"].pop(), True, "expected 12 tasks"),
    (lambda p: p.pop("checksum"), False, "checksum"),
])
def test_edited_caches_are_refused(toy, capsys, change, reseal, message):
    """Issue 14 item 6: an edited number (any task), a NaN, a deleted key, an empty result, a wrong type or a
    short list fail both ``load`` and ``--check`` (checksum; and the schema even when the checksum is re-sealed)."""
    toy()
    path = figdata.generate("toy", progress=False)
    _edit(path, change, reseal)
    with pytest.raises(figdata.CacheError, match=message):
        figdata.load("toy")
    assert cli(["data", "toy", "--check"]) == 1
    assert "toy:" in capsys.readouterr().out


@pytest.mark.parametrize("params", [{"d": 5, "reps": 10**6}, [], {"d": "x", "reps": 3}, {"d": 5.0, "reps": 3},
                                    {"d": True, "reps": 3}, {"d": 5}, None])
def test_absurd_params_fail_fast_and_checking_goes_on(toy, capsys, params):
    """Issue 14 item 5: absurd ``params`` (huge reps, wrong types) give a clear error in well under a second,
    from ``load`` and from ``--check``, which goes on to check the other figures."""
    toy()
    figdata.register("toy2", d=4, reps=1, version="1", grid={"alpha": [0.1]}, checks=TOY_CHECKS)(toy_task)
    figdata.generate("toy2", progress=False)
    path = figdata.generate("toy", progress=False)
    _edit(path, lambda p: p.update(params=params))
    start = time.perf_counter()
    with pytest.raises(figdata.CacheError, match="params|integer|expected"):
        figdata.load("toy")
    with pytest.raises(figdata.CacheError):
        figdata.load("toy", reps=10**6)
    assert time.perf_counter() - start < 1.0
    assert cli(["data", "toy", "toy2", "--check", "--recompute", "none"]) == 1
    out = capsys.readouterr().out
    assert "toy: cached data" in out and "toy2: ok" in out


def test_other_sizes_need_out_or_force(toy, tmp_path, capsys):
    """Issue 10 item 4: a smaller cache cannot replace the book's one silently, and --check flags it."""
    toy()
    with pytest.raises(ValueError, match="--out DIR"):
        figdata.generate("toy", d=3, progress=False)
    assert cli(["data", "toy", "--d", "3"]) == 2
    assert "--out" in capsys.readouterr().err
    assert not (tmp_path / "data" / "toy.json").exists()
    assert cli(["data", "toy", "--d", "3", "--reps", "2", "--out", str(tmp_path / "small")]) == 0
    assert figdata.load("toy", d=3, reps=2, data_dir=tmp_path / "small").reps == 2
    assert cli(["data", "toy", "--d", "3", "--reps", "2", "--out", str(tmp_path / "small"), "--check"]) == 0
    assert cli(["data", "toy", "--d", "3", "--force"]) == 0
    assert cli(["data", "toy", "--check"]) == 1
    assert "d=3, expected 5" in capsys.readouterr().out
    with pytest.raises(figdata.CacheError, match="d=3, expected 5"):
        figdata.load("toy")


def test_check_detects_a_changed_simulation_in_any_task(toy, monkeypatch, capsys):
    """A changed number in the code's output for any single task is found by ``--check --recompute all``,
    and by the rotating sample for some check seed; the unchanged cache passes."""
    toy()
    figdata.generate("toy", progress=False)
    assert cli(["data", "toy", "--check", "--recompute", "all"]) == 0
    for target in range(12):
        def drifted(task, target=target):
            out = toy_task(task)
            index = figdata.tasks_of(figdata.spec("toy")).index(
                {k: v for k, v in task.items() if k != "scale"})
            return {**out, "mse": out["mse"] * (1 + 1e-6)} if index == target else out
        toy(compute=drifted)
        assert cli(["data", "toy", "--check", "--recompute", "all"]) == 1, target
        assert f"task {target} " in capsys.readouterr().out
        found = [not figdata.verify("toy", sample=3, seed=seed).ok for seed in range(40)]
        assert any(found) and not all(found), target  # the sample rotates with the seed
    toy()
    assert [figdata.sample_indices(figdata.spec("toy"), 12, 3, seed) for seed in (0, 0)][0] == \
        figdata.sample_indices(figdata.spec("toy"), 12, 3, 0)


def test_check_detects_a_changed_theory_curve(monkeypatch, capsys, tmp_path):
    """A theory curve that differs from what the code computes (one point moved by 1e-4 in the file, even with
    the checksum re-sealed, or in the code) is found by ``--check`` (theory caches are recomputed by default)."""
    monkeypatch.setattr(figdata.specs, "_REGISTRY", dict(figdata.registry()))
    figure = figdata.spec("theory_fig4")
    assert cli(["data", "theory_fig4", "--check"]) == 0
    copy = tmp_path / "theory_fig4.json"
    copy.write_text((figdata.default_data_dir() / "theory_fig4.json").read_text())
    _edit(copy, lambda p: p["results"][2]["mse"].__setitem__(5, p["results"][2]["mse"][5] * (1 + 1e-4)))
    assert cli(["data", "theory_fig4", "--check", "--out", str(tmp_path)]) == 1
    assert "task 2 (lam=0.01): mse[5]" in capsys.readouterr().out
    original = figure.compute

    def moved(task):
        out = dict(original(task))
        if task["lam"] == 0.05:
            out["mse"] = list(out["mse"])
            out["mse"][len(out["mse"]) // 2] *= 1 + 1e-4
        return out

    figdata.specs._REGISTRY["theory_fig4"] = figdata.FigureSpec(
        **{**{f: getattr(figure, f) for f in figure.__dataclass_fields__}, "compute": moved})
    assert cli(["data", "theory_fig4", "--check"]) == 1
    assert "task 1 (lam=0.05): mse[" in capsys.readouterr().out


def test_tolerances():
    """close: rtol/atol per entry; spectrum: sorted, scaled by the spectral width; exact; ignore."""
    checks = {"mse": figdata.close(1e-3, 1e-9, "x"), "eig": figdata.spectrum(1e-3, 0.0, "x"),
              "flag": figdata.exact("x"), "n_iter": figdata.ignore("x")}
    figure = figdata.FigureSpec(name="t", compute=toy_task, version="1", d=5, reps=1, checks=checks)
    base = {"mse": 0.5, "eig": [0.0, 1e-12, 2.0, 4.0], "flag": True, "n_iter": 10}
    same = {"mse": 0.5004, "eig": [4.002, 3e-15, 2.0, -1e-13], "flag": True, "n_iter": 999}
    assert figdata.compare_results(figure, base, same) == []
    assert figdata.compare_results(figure, {**base, "mse": 1e-10}, {**base, "mse": 5e-10}) == []  # ~0 in theory
    assert len(figdata.compare_results(figure, base, {**base, "mse": 0.501})) == 1
    assert len(figdata.compare_results(figure, base, {**base, "eig": [0.0, 0.0, 2.01, 4.0]})) == 1
    assert len(figdata.compare_results(figure, base, {**base, "flag": False})) == 1


def test_bad_input(toy):
    toy()
    with pytest.raises(ValueError, match="figure must be one of"):
        figdata.load("no-such-figure")
    with pytest.raises(ValueError, match="jobs"):
        figdata.generate("toy", jobs=0, progress=False)
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        figdata.generate("toy", d=1, progress=False, force=True)
    with pytest.raises(ValueError, match="shared_seed"):
        figdata.register("bad", d=5, reps=1, version="1", grid={"alpha": [1]}, shared_seed=("lam",),
                         checks=TOY_CHECKS)(toy_task)
    with pytest.raises(ValueError, match="reserved"):
        figdata.register("bad", d=5, reps=1, version="1", fixed={"seed": 1}, checks=TOY_CHECKS)(toy_task)
    with pytest.raises(ValueError, match="checks must map"):
        figdata.register("bad", d=5, reps=1, version="1")(toy_task)
    with pytest.raises(TypeError, match="replaced by checks"):
        figdata.register("bad", d=5, reps=1, version="1", check_rtol=1e-4, checks=TOY_CHECKS)(toy_task)
    with pytest.raises(ValueError, match="why"):
        figdata.close(1e-3, 0.0, "")
    with pytest.raises(ValueError, match="check_sample"):
        figdata.register("bad", d=5, reps=1, version="1", checks=TOY_CHECKS, check_sample=2)(toy_task)


def test_nonfinite_result_is_refused(toy):
    figdata.specs._REGISTRY.pop("toy", None)
    figdata.register("toy", d=5, reps=1, version="1", grid={"alpha": [0.1]}, checks=TOY_CHECKS)(_nan_task)
    with pytest.raises(ValueError, match="non-finite"):
        figdata.generate("toy", progress=False)


def _nan_task(task: dict) -> dict:
    return {"mse": float("nan"), "curve": [0.0]}


def test_cli(toy, tmp_path, capsys):
    toy()
    assert cli(["data", "--list"]) == 0
    assert "toy" in capsys.readouterr().out
    assert cli(["data", "toy", "--check"]) == 1
    assert cli(["data", "toy"]) == 0
    assert cli(["data", "toy", "--check", "--recompute", "sample"]) == 0
    assert cli(["data", "nope"]) == 2
    with pytest.raises(SystemExit):
        cli(["data", "toy", "--d", "1"])


def test_cli_messages(capsys):
    """Issue 14 item 12: ``--jobs x`` says what is valid (not ``invalid _positive_or_all value``)."""
    with pytest.raises(SystemExit):
        cli(["data", "--jobs", "x"])
    err = capsys.readouterr().err
    assert "--jobs: must be a positive integer or -1 (all cores), got 'x'" in err and "_positive" not in err


def test_list_into_a_closed_pipe_is_quiet():
    """Issue 14 item 12: ``python -m qnn data --list | head -2`` ends without a BrokenPipeError traceback."""
    result = subprocess.run(f"{sys.executable} -m qnn data --list | head -2", shell=True, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert len(result.stdout.splitlines()) == 2
    process = subprocess.Popen([sys.executable, "-m", "qnn", "data", "--list"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before anything is written
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert process.returncode == 0


def test_scheduler_without_dask_is_a_clear_error(toy, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith("dask"):
            raise ImportError("no dask here")
        return real_import(name, *args, **kwargs)

    toy()
    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(ImportError, match="dask.distributed"):
        figdata.generate("toy", scheduler="tcp://127.0.0.1:1", progress=False)
    assert cli(["data", "toy", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "needs dask.distributed: pip install" in err and "Traceback" not in err


@pytest.mark.slow
def test_dask_scheduler_matches_serial(toy):
    """``--scheduler``: the same tasks on a local Dask cluster give exactly the serial results."""
    distributed = pytest.importorskip("dask.distributed", reason="optional extra: pip install -e '.[dask]'")
    toy()
    serial = json.loads(figdata.generate("toy", progress=False).read_text())["results"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = json.loads(figdata.generate("toy", scheduler=cluster.scheduler_address,
                                              progress=False).read_text())["results"]
    assert on_dask == serial
