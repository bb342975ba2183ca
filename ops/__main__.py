"""``python -m fmw``: the same as the ``fmw`` command (used by services, never a .bat)."""

from fmw.cli.app import main

main()
