"""Registered figure data of the book: one module per chapter, each calling :func:`qnn.figdata.register`.

Every module of this package is imported by :func:`qnn.figdata.registry`, so adding a figure is adding a decorated
function to a module here (or a new module). See :mod:`qnn.figdata` for the pattern.
"""
