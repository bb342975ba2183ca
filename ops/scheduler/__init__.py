"""The scheduler: pg_cron-shaped jobs run by APScheduler (``fmw scheduler run``).

``cron`` is the schedule grammar and its fire times, ``jobs`` the job tables,
``runner`` runs one fire (locks, claims, retries), ``tasks`` what a command
does, ``loop`` the service loop, ``status`` the status file the dashboard and
``fmw doctor`` read. It must never hold record rules: a job's work is a task
or SQL.
"""
