"""Parameter sweeps, by job: :mod:`.definition` (the sweep file and its design),
:mod:`.running` (tasks on an executor, into the store) and :mod:`.analysis` (summaries and
sensitivity). :mod:`sim.experiment.sweep` is their public face."""
