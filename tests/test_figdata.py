"""Figure-data cache: generation, resume, stale/corrupt detection, and cache vs current code."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qnn import figdata
from qnn.__main__ import main as cli


def toy_task(task: dict) -> dict:
    """A cheap deterministic 'simulation': mean of squared Gaussians, seeded by the task."""
    flag = task.get("fail_flag")
    if flag and task["rep"] == 1 and task["alpha"] == 0.2 and Path(flag).exists():
        Path(flag).unlink()
        raise KeyboardInterrupt  # simulates Ctrl-C in the middle of a run
    rng = np.random.default_rng(task["seed"])
    values = rng.standard_normal(task["d"]) ** 2 * task["alpha"]
    return {"mse": float(values.mean()), "curve": values[:3]}


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """Register a toy figure in an isolated registry and data folders."""
    monkeypatch.setattr(figdata, "_REGISTRY", dict(figdata.registry()))
    monkeypatch.setenv("QNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QNN_PARTIAL_DIR", str(tmp_path / "partial"))

    def make(version="1", fixed=None, **grid):
        figdata._REGISTRY.pop("toy", None)
        figdata.register("toy", d=5, reps=3, version=version, grid=grid or {"alpha": [0.1, 0.2], "lam": [0, 1]},
                         fixed=fixed or {"kappa": 0.5}, shared_seed=("lam",), description="toy")(toy_task)
        return figdata.spec("toy")

    return make


def test_tasks_and_seeds(toy):
    figure = toy()
    tasks = figdata.tasks_of(figure)
    assert len(tasks) == 2 * 2 * 3
    assert tasks[0] == {"kappa": 0.5, "alpha": 0.1, "lam": 0, "d": 5, "rep": 0, "seed": tasks[0]["seed"]}
    seeds = {(t["alpha"], t["lam"], t["rep"]): t["seed"] for t in tasks}
    # lam shares seeds (same teacher/data across lam), alpha and rep do not
    assert seeds[(0.1, 0, 0)] == seeds[(0.1, 1, 0)]
    assert seeds[(0.1, 0, 0)] != seeds[(0.2, 0, 0)] != seeds[(0.2, 0, 1)]
    assert figdata.tasks_of(figure) == tasks  # reproducible
    # adding repetitions keeps the existing seeds
    assert [t["seed"] for t in figdata.tasks_of(figure, reps=4) if t["rep"] < 3] == [t["seed"] for t in tasks]


def test_generate_load_and_stats(toy, tmp_path):
    toy()
    path = figdata.generate("toy", progress=False)
    assert path == tmp_path / "data" / "toy.json"
    data = figdata.load("toy")
    assert (data.d, data.reps, len(data.results)) == (5, 3, 12)
    for task, result in zip(data.tasks, data.results):
        assert figdata.compare_results(result, toy_task(dict(task)), rtol=0) == []
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
    toy(fixed={"kappa": 0.5, "fail_flag": str(flag)})
    with pytest.raises(KeyboardInterrupt):
        figdata.generate("toy", progress=False)
    partial = list((tmp_path / "partial").glob("toy-*/task-*.json"))
    assert 0 < len(partial) < 12
    assert not (tmp_path / "data" / "toy.json").exists()
    calls = []
    original = figdata._run_one
    figdata._run_one = lambda compute, index, task: (calls.append(index), original(compute, index, task))[1]
    try:
        figdata.generate("toy", progress=False)
    finally:
        figdata._run_one = original
    assert len(calls) == 12 - len(partial)  # only the unfinished tasks were recomputed
    data = figdata.load("toy")
    for task, result in zip(data.tasks, data.results):
        assert figdata.compare_results(result, toy_task({**task, "fail_flag": None}), rtol=0) == []


def test_missing_stale_and_corrupt_caches_are_reported(toy, tmp_path):
    toy()
    with pytest.raises(figdata.CacheError, match="python -m qnn data toy"):
        figdata.load("toy")
    path = figdata.generate("toy", progress=False)
    with pytest.raises(figdata.CacheError, match=r"d=5, expected 7.*python -m qnn data toy --d 7"):
        figdata.load("toy", d=7)
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


def test_bad_input(toy):
    toy()
    with pytest.raises(ValueError, match="figure must be one of"):
        figdata.load("no-such-figure")
    with pytest.raises(ValueError, match="jobs"):
        figdata.generate("toy", jobs=0, progress=False)
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        figdata.generate("toy", d=1, progress=False)
    with pytest.raises(ValueError, match="shared_seed"):
        figdata.register("bad", d=5, reps=1, version="1", grid={"alpha": [1]}, shared_seed=("lam",))(toy_task)
    with pytest.raises(ValueError, match="reserved"):
        figdata.register("bad", d=5, reps=1, version="1", fixed={"seed": 1})(toy_task)


def test_nonfinite_result_is_refused(toy):
    figdata._REGISTRY.pop("toy", None)
    figdata.register("toy", d=5, reps=1, version="1", grid={"alpha": [0.1]})(_nan_task)
    with pytest.raises(ValueError, match="non-finite"):
        figdata.generate("toy", progress=False)


def _nan_task(task: dict) -> dict:
    return {"mse": float("nan")}


def test_cli(toy, tmp_path, capsys):
    toy()
    assert cli(["data", "--list"]) == 0
    assert "toy" in capsys.readouterr().out
    assert cli(["data", "toy", "--check"]) == 1
    assert cli(["data", "toy", "--reps", "2"]) == 0
    assert figdata.load("toy").reps == 2
    assert cli(["data", "toy", "--check"]) == 0
    assert cli(["data", "nope"]) == 2
    with pytest.raises(SystemExit):
        cli(["data", "toy", "--d", "1"])


def test_scheduler_without_dask_is_a_clear_error(toy, monkeypatch):
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


# ----- the book's own caches match what the current code produces (cheap subset) -----

def _cached_figures() -> list[str]:
    return [name for name in figdata.registry() if (figdata.default_data_dir() / f"{name}.json").exists()]


@pytest.mark.parametrize("name", _cached_figures())
def test_cached_data_matches_current_code(name):
    """Recompute the spec's cheap check tasks and compare with the committed cache."""
    data = figdata.load(name)  # raises if missing, stale or corrupt
    figure = figdata.spec(name)
    for index in figure.check_tasks:
        fresh = figdata.compute_task(figure, data.tasks[index])  # single-threaded BLAS, as when generated
        problems = figdata.compare_results(data.results[index], fresh, rtol=figure.check_rtol)
        assert problems == [], f"{name} task {index}: {problems}"


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
