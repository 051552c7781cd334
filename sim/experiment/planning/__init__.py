"""The headcount planner, by job: the plan space, the store, running, odds and the search.

:mod:`sim.experiment.plan` is its public face (it re-exports the names of these modules).
"""
