"""Registered figure data of the book: one module per chapter, each decorating task functions with
:func:`qnn.figdata.register`.

Every module of this package is imported by :func:`qnn.figdata.registry`, so adding a figure is adding a decorated
function to a module here (or a new module). :mod:`qnn.figures.common` holds what they share: ``setting_of(task)``
and the per-solver result checks (tolerances with their reasons). See :mod:`qnn.figdata` for the pattern.
"""

from qnn.conventions import lazy_submodules

# qnn.<subpackage>.<module> resolves after a plain `import qnn` (submodules are imported on first use)
__getattr__ = lazy_submodules(__name__)
