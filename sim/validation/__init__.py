"""Validation: the model against closed forms (queueing theory, Markov chains, laws), and
scenarios against the published ranges of healthy organisations (the realism check)."""
