"""Reading CRM exports, by job: :mod:`.mapping` (the column map and its presets),
:mod:`.dates` (date-format detection and plausibility) and :mod:`.reading` (the CSV files,
row checks, :class:`~.reading.CrmData`). :mod:`sim.calibrate.columns` is their public face."""
