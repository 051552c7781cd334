"""What reading CRM exports did with every row: errors that stop, warnings that count.

Unusable input (a missing file or column, a date format that cannot be told) raises
:class:`CrmError` with every problem located as ``file:line: column: message (got value)``; the
command line prints them and exits with status 2. Rows that can be used in part, or must be
left out, become warnings of a named kind, each kind counted, so that nothing is dropped
without being reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sim.errors import InputError, Problem

# kinds of warnings, as printed in the report
EMPTY_ID = "empty id"
DUPLICATE_LEAD = "duplicate lead id"
DUPLICATE_DEAL = "duplicate deal for a lead"
ORPHAN_DEAL = "deal whose lead is not in the leads file"
BAD_DATE = "unparseable date"
WON_BEFORE_CREATED = "deal won before its lead was created"
STAGE_ORDER = "stage date out of order"
UNKNOWN_CHANNEL = "unknown or empty channel"
BAD_AMOUNT = "amount that is not a number"
NO_AMOUNT = "won deal without a positive amount"
BAD_OUTCOME = "unrecognised outcome"
AFTER_AS_OF = "dated after the as-of date"
PARTIAL_MONTH = "lead in a partial month (left out of the volume fit only)"
IMPLAUSIBLE_DATE = "date outside the plausible window (taken as no date)"


class CrmError(InputError):
    """CRM exports (or their column map) cannot be used.

    Every problem carries its file, line, column and value where known.
    """


@dataclass
class Report:
    """Warnings (with their rows), counts by kind, and notes on what was detected or assumed.

    Attributes
    ----------
    warnings
        Every warning, in the order found.
    kinds
        The kind of each warning, parallel to ``warnings``.
    counts
        Rows affected, by kind (a kind may count rows without listing each, e.g. zero amounts).
    notes
        Plain statements: detected date formats, guessed columns, windows, choices made.
    """

    warnings: list[Problem] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def warn(self, kind: str, problem: Problem) -> None:
        """Record one warning of ``kind``."""
        self.warnings.append(problem)
        self.kinds.append(kind)
        self.counts[kind] += 1

    def note(self, text: str) -> None:
        """Record a plain statement."""
        self.notes.append(text)

    def of_kind(self, kind: str) -> list[Problem]:
        """The warnings of one kind."""
        return [p for p, k in zip(self.warnings, self.kinds, strict=True) if k == kind]

    def lines(self, per_kind: int = 5) -> list[str]:
        """Printable lines: notes, then up to ``per_kind`` warnings of each kind and the counts."""
        out = list(self.notes)
        for kind, n in self.counts.items():
            listed = self.of_kind(kind)
            shown = listed[:per_kind]
            out.extend(f"warning: {p}" for p in shown)
            more = len(listed) - len(shown)
            out.append(f"{kind}: {n} row(s)" + (f" ({more} more not shown)" if more > 0 else ""))
        return out
