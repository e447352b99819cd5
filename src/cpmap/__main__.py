"""``python -m cpmap`` runs the CLI."""

from cpmap.cli import main

main()
