"""FMW's long-running services: what they are, and NSSM or systemd running them.

``model`` describes the services once (a ``ServicePlan``: programs, arguments,
logs, dependencies) and the ``Step`` that acts on one; ``nssm`` and
``systemd`` render those steps for Windows and Linux; ``control`` runs them;
``logs`` prunes rotated service logs; ``dashboard`` is the dashboard's own
command line. Only ``control`` and ``dashboard.serve`` may start a process.
"""
