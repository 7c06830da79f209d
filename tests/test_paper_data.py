"""The authors' d = 100 data (book/data/paper): the loader refuses damaged files, and qnn's theory lies inside the
authors' error bars.

Validation criterion, fixed before the comparison was first run:

* markers: every authors' marker of Figures 2, 4, 6, 7, 16, 17, 18, 19 (all quantities) whose alpha lies inside the
  alpha range of qnn's cached theory curve of the same parameters (book/data/theory_figN.json), and of Figure 10
  above alpha_inter (where the paper draws its theory; theory = qnn.fixed_point on the lambda = 0 branch);
* theory at a marker: log-linear interpolation in alpha on every segment of the cached curve that brackets the
  marker's alpha (a folded curve gives several values; the marker counts as inside if any of them is);
* inside: bar_low <= theory <= bar_high, the paper's own bars (mean +- 2 population std over the authors' runs);
* pass: at least 95% of the markers of each figure inside. A figure below 95% is listed in KNOWN_MISSES with the
  measured fraction and the reason (the test then checks that the miss is still what was reported).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from qnn.figdata import paper
from qnn.figures import paper_layer as pl

FIGURES = {"fig2": ("mse", "loss_train"), "fig4": ("mse", "loss_train"), "fig6": ("mse",),
           "fig7": ("mse", "loss_train"), "fig10": ("mse", "loss_train", "ise"), "fig16": ("mse", "loss_train"),
           "fig17": ("mse", "loss_train"), "fig18": ("mse", "ise"), "fig19": ("mse", "ise")}

#: Figures below 95%: (measured fraction, reason). Empty until a measurement says otherwise.
KNOWN_MISSES: dict[str, tuple[float, str]] = {}


@pytest.mark.parametrize("figure", sorted(FIGURES))
def test_theory_inside_the_authors_bars(figure):
    table = pl.theory_coverage(figure, FIGURES[figure])
    summary = pl.coverage_summary(table)
    assert summary["covered"] >= 0.9 * summary["markers"] or figure == "fig10", summary
    if figure in KNOWN_MISSES:
        measured, reason = KNOWN_MISSES[figure]
        assert summary["fraction"] < 0.95, f"{figure} now passes ({summary}): remove it from KNOWN_MISSES"
        assert abs(summary["fraction"] - measured) < 1e-9, (summary, reason)
    else:
        outside = table[table["covered"] & ~table["inside"]]
        assert summary["fraction"] >= 0.95, (summary, outside[["quantity", "kappa", "kappa_star", "noise", "lam",
                                                               "alpha", "bar_low", "mean", "bar_high",
                                                               "theory"]].to_string())


def test_every_file_validates():
    names = paper.validate_all()
    assert len(names) == 22
    for name in paper.marker_files():
        figure, quantity = name[:-4].split("_", 1)
        frame = paper.markers(figure, quantity)
        assert (frame["d"] == 100).all() and np.allclose(frame["half_width"], 2 * frame["std"], rtol=1e-5)


@pytest.fixture()
def copy_dir(tmp_path):
    target = tmp_path / "paper"
    shutil.copytree(paper.default_paper_dir(), target)
    return target


def test_loader_rejects_an_edited_number(copy_dir):
    path = copy_dir / "fig7_mse.csv"
    text = path.read_text()
    assert "6.3777844" in text
    path.write_text(text.replace("6.3777844", "6.3777845", 1))
    with pytest.raises(paper.PaperDataError, match=r"fig7_mse\.csv.*checksum"):
        paper.markers("fig7", "mse", directory=copy_dir)


def test_loader_rejects_a_truncated_file(copy_dir):
    path = copy_dir / "fig20_mse_runs.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-3]))
    with pytest.raises(paper.PaperDataError, match=r"fig20_mse_runs\.csv"):
        pl.paper.runs("fig20", "mse", directory=copy_dir)


def test_loader_checks_content_even_with_a_matching_manifest(copy_dir):
    """A file re-checksummed after damage still fails on its content: NaN, a wrong d, a parameter never run."""
    source = {"repository": "test"}
    cases = [("fig2_mse.csv", "3.07836173", "nan", "non-finite"),
             ("fig4_mse.csv", ",100,0.005,5000,0.01,", ",64,0.005,5000,0.01,", "d / eta"),
             ("fig9_mse.csv", ",0.7,0.5,0,0,1,100,", ",0.7,0.5,0,0,0.3,100,", "gamma")]
    for name, old, new, message in cases:
        path = copy_dir / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1))
        paper.write_manifest(copy_dir, source)
        figure, quantity = name[:-4].split("_", 1)
        with pytest.raises(paper.PaperDataError, match=message) as error:
            paper.markers(figure, quantity, directory=copy_dir)
        assert name in str(error.value)
        path.write_text(text)
        paper.write_manifest(copy_dir, source)


def test_loader_names_a_missing_file_and_manifest(copy_dir):
    (copy_dir / "fig6_mse.csv").unlink()
    with pytest.raises(paper.PaperDataError, match=r"fig6_mse\.csv: missing"):
        paper.markers("fig6", "mse", directory=copy_dir)
    (copy_dir / "MANIFEST.json").unlink()
    with pytest.raises(paper.PaperDataError, match="MANIFEST.json: missing"):
        paper.markers("fig2", "mse", directory=copy_dir)
    with pytest.raises(ValueError, match="published files"):
        paper.markers("fig5", "mse")


def test_authors_threshold_estimates_of_figure_21():
    """Acceptance of Figure 21: >= 20 estimates drawn (the 24 pairs the paper draws), mean |estimate - alpha_PR| <=
    0.01, >= 20 intervals containing alpha_PR."""
    from qnn.longtime.thresholds import alpha_pr
    from qnn.simulation.threshold_estimate import compare_with_theory

    estimates = pl.authors_threshold_estimates()
    drawn = {pair: e for pair, (_, _, e) in estimates.items() if pair != (1.0, 1.0)}
    summary = compare_with_theory(drawn, alpha_pr)
    assert summary.n >= 20
    assert summary.mean_abs_offset <= 0.01, summary
    assert summary.n_inside >= 20, summary
    traces = pl.estimate_traces(estimates, {0.1: 0, 0.2: 1, 0.3: 2, 0.5: 3, 0.7: 4})   # Figure 21's palette
    drawn_traces = [t for t in traces if t.meta["kind"] == "authors"]
    assert len(drawn_traces) == len(drawn) and all("d = 100" in t.name for t in drawn_traces)


def test_layer_traces_export_the_published_numbers():
    """The layer's traces: open markers named with d = 100, in the figure's CSV with x = alpha, y = mean,
    y_err = bar half-width; one legend entry (a CSV row of kind legend without numbers)."""
    import csv
    import io

    from qnn import plotting

    fig = plotting.new_figure("alpha", ["mse", "loss_train"], rows=1, cols=2, log_y=True)
    fig.add_traces(pl.sweep_layer("fig2", vary="lam", values=[0.5, 0.1, 0.05], quantities=("mse", "loss_train")))
    rows = list(csv.DictReader(io.StringIO(plotting.figure_csv(fig))))
    assert [(r["kind"], r["x"], r["y"]) for r in rows if r["kind"] != "authors"] == [("legend", "", "")]
    rows = [r for r in rows if r["kind"] == "authors"]
    assert len(rows) == 180 and all("authors' GD, d = 100" in r["trace"] for r in rows)
    assert sum(t.showlegend is True for t in fig.data) == 1
    assert all(t.marker.symbol == pl.SYMBOL for t in fig.data)
    frame = paper.markers("fig2", "mse")
    lam05 = frame[np.isclose(frame["lam"], 0.5)].sort_values("alpha")
    got = [r for r in rows if r["trace"].startswith("λ = 0.5:") and r["panel"].endswith("MSE")]
    assert np.array_equal([float(r["x"]) for r in got], lam05["alpha"].to_numpy())
    assert np.array_equal([float(r["y"]) for r in got], lam05["mean"].to_numpy())
    assert np.allclose([float(r["y_err"]) for r in got], lam05["half_width"].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="figure must be one of"):
        pl.details("fig5")
