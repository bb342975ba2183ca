"""``fmw doctor``: the morning check, one ✓/✗ line each with the next step.

``checks`` holds the checks (database, sync, snapshot, backup, scheduler,
services, listening sockets, disk, nginx); ``listening`` finds which sockets
FMW's processes listen on. It must never change anything: it only looks.
"""
