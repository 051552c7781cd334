"""``python -m sim`` runs the revloop command line."""

from sim.cli import main

main()
