"""Reading CRM exports: the column map, date-format detection, and row-by-row checks.

Two CSV files go in: *leads* (one row per lead: id, created date, channel) and *deals* (rows
keyed by the lead id: won date, optionally an outcome (won, lost, open), stage dates, owners and
an amount). A column map (YAML) says which column is which; without one, common column names
are tried. :func:`read_crm` returns one row per usable lead with its deal attached, and a
:class:`~sim.calibrate.report.Report` of every row it had to change or leave out.
"""

from __future__ import annotations

from sim.calibrate.crm.dates import (
    EARLIEST_DATE,
    FEW_IMPLAUSIBLE,
    LATEST_AHEAD,
    DateColumn,
    date_window,
    parse_dates,
)
from sim.calibrate.crm.mapping import (
    DATE_ORDERS,
    PRESETS,
    ColumnMap,
    DealColumns,
    LeadColumns,
    OutcomeValues,
    Owners,
    PathLike,
    Stage,
    guess_column_map,
    load_column_map,
    preset_map,
    stage_columns,
)
from sim.calibrate.crm.reading import (
    LEAD_COLUMNS,
    CrmData,
    read_crm,
)

__all__ = [
    "DATE_ORDERS",
    "EARLIEST_DATE",
    "FEW_IMPLAUSIBLE",
    "LATEST_AHEAD",
    "LEAD_COLUMNS",
    "PRESETS",
    "ColumnMap",
    "CrmData",
    "DateColumn",
    "DealColumns",
    "LeadColumns",
    "OutcomeValues",
    "Owners",
    "PathLike",
    "Stage",
    "date_window",
    "guess_column_map",
    "load_column_map",
    "parse_dates",
    "preset_map",
    "read_crm",
    "stage_columns",
]
