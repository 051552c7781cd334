"""Validation: the model against closed forms (queueing theory, Markov chains, laws)."""
