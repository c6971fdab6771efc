"""``python -m orchestrator`` is the ``crowdclean`` command."""

from orchestrator.cli import main

main()
