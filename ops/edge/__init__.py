"""The edge: nginx in front of the dashboard, its configuration and its reports.

``config`` turns the ``[edge]`` settings into nginx's site files, ``install``
writes them once ``nginx -t`` accepts them, ``logs`` reads nginx's JSON logs,
``reports`` counts the security and usage bars, ``pages`` renders the
``/api/dev/`` admin pages from the Jinja2 templates in ``templates/``. It
must never start, stop or reload nginx (the services do).
"""
