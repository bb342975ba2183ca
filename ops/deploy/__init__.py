"""The offline deploy of a release to a server (``deploy.bat``'s entry).

``step`` is the deploy itself (``python ops/deploy`` or ``python -m fmw.deploy``),
``plan`` its steps and commands, ``release`` the release folders and their
pointer, ``processes`` the process backend used where no service manager runs,
``bundle`` the offline bundle built on a connected machine. Everything but
``bundle`` must use the standard library only: it runs before any venv exists.
"""
