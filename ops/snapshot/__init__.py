"""The snapshot path: refresh the snapshot views, export them, publish generations.

``refresh`` brings the materialized views up to date, ``export`` COPYs the views
into CSV files (and their Parquet twins, ``columnar``), and ``generations``
publishes a generation atomically (a temporary folder, then the ``CURRENT.json``
pointer) and reads it back verified, falling back to the newest good one. It
must never import the scheduler, services, edge or deploy packages, and never
shape or filter data in Python (the views do).
"""
