"""The ``fmw`` command, and only its front-end: typer apps, arguments, printing.

One module per command group (``db``, ``batch``, ``job``, ``backup`` …); ``app``
assembles them and holds ``main``. Every command turns an ``FmwError`` into one
line and a non-zero exit (``support.clean_errors``). It must never hold SQL,
file formats or operational logic: it calls the other sub-packages, and nothing
outside ``cli/`` may import it.
"""
