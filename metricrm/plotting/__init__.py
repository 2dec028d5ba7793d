"""Figures (layer 4: reads finished result frames; never scores or computes statistics itself).

Contract for what lands here: Display objects in the scikit-learn style. ``XDisplay.from_frame
(frame, ..., ax=None)`` takes a result frame (from ``meta_evaluate``, a probe run, a composite
fit) and computes only what to draw; ``.plot(ax=None)`` draws on the given axes (or a new
figure) and keeps ``ax_``, ``figure_`` and the artists for tests and further styling.
matplotlib is imported inside the functions, so ``import metricrm`` never loads it.
"""
