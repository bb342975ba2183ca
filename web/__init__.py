"""The admin console and APIs: Django behind nginx, on 127.0.0.1 only.

Its job: serve ``/api/dev/console/`` and ``/api/dev/api/`` (admins: a few
server-rendered pages and JSON endpoints with their OpenAPI schema for batches,
sources, vocabulary, jobs, health and the audit log) and ``/api/v1/`` (every
allowlisted user: records, one record, changes, the Home summary, read from the
same snapshot files the dashboard reads, so it keeps answering while PostgreSQL
is down).

What it must never do: hold a record rule (every change is an SQL function the
``fmw`` command calls too, reached through the same Python modules), write a
table directly, import Streamlit or ``fmw.cli``. Only ``fmw web`` (``fmw.cli.web``)
imports it, so Django is loaded in that process alone (import-linter contract).
"""
