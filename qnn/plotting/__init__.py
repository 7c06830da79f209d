"""The book layer's one figure style, and how figures, captions and tables reach a page.

* :mod:`qnn.plotting.core` — figures: theory = lines, simulations = markers with ±2 std bars, sliders, captions,
  CSV downloads, :func:`show` (everything it defines is re-exported here: ``plotting.new_figure``, ...);
* :mod:`qnn.plotting.style` — the figure layer every figure passes through in :func:`show`: decade-labelled log
  axes, panel gaps, one legend per panel, increasing sliders, a toolbar without share/cloud buttons, PNG export;
* :mod:`qnn.plotting.embedding` — how a figure is written into a page of the static site (shared template,
  numbers at the precision they carry);
* :mod:`qnn.plotting.captions` — captions and the collapsed "How this figure was made" block;
* :mod:`qnn.plotting.tables` — the one HTML table helper (formatted numbers; a missing value is a footnoted dash).

Layer: no physics; outside this subpackage it imports only :mod:`qnn.conventions`.
"""
from .core import (ERROR_BAR_NOTE, MEAN_ONLY_NOTE, NOTE_OFFSET, PALETTE, PLOTLY_CONFIG, SYMBOLS, add_note,
                   add_simulation, add_theory, caption, color, csv_download_link, figure_config, figure_csv, label,
                   legend_per_panel, new_figure, panel_names, show, simulation_trace, slider_figure, theory_trace)

__all__ = ["PALETTE", "SYMBOLS", "ERROR_BAR_NOTE", "MEAN_ONLY_NOTE", "NOTE_OFFSET", "PLOTLY_CONFIG", "figure_config",
           "legend_per_panel", "label", "color", "new_figure", "theory_trace", "add_theory", "simulation_trace",
           "add_simulation", "add_note", "panel_names", "slider_figure", "caption", "figure_csv",
           "csv_download_link", "show"]

from ..conventions import lazy_submodules

# qnn.plotting.<module> resolves after a plain `import qnn` (submodules are imported on first use)

__getattr__ = lazy_submodules(__name__)
