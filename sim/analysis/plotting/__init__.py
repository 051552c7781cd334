"""Charts, by job: :mod:`.style` (palette, labels, axes, month ticks), :mod:`.runs`
(one run's monthly and stage charts), :mod:`.comparisons` (scenarios and plans side by side)
and :mod:`.sweeps` (response curves and sensitivity). :mod:`sim.analysis.plots` is their
public face."""
