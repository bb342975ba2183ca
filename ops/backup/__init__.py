"""Backups and restores: a ``pg_dump`` proven by a real restore, and ``fmw restore``.

``dump`` makes and verifies a backup, ``files`` is the backup folder (names,
sidecars, retention), ``schedule`` the Windows Task Scheduler entry,
``restore`` a restore into a new or replaced database, ``pg_tools`` finds and
runs PostgreSQL's client programs. It must never change records or the schema
of any database but the one it restores into.
"""
