"""Run the deploy: ``py -3.11 ops\\deploy …`` (deploy.bat) or ``python -m fmw.deploy …``.

deploy.bat runs this folder with a bare Python, before any venv exists. Then
``fmw`` is not installed, so the folder above (``ops/``) is imported as the
package ``fmw`` by hand: that is all this file adds, and it must stay standard
library only. The deploy itself is ``fmw.deploy.step``.
"""

from __future__ import annotations

import sys

if not __package__:  # run as a folder: make ops/ importable as `fmw`, nothing else
    import importlib.util
    from pathlib import Path

    _ops = Path(__file__).resolve().parent.parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ops / "deploy"]
    _spec = importlib.util.spec_from_file_location(
        "fmw", _ops / "__init__.py", submodule_search_locations=[str(_ops)]
    )
    assert _spec is not None and _spec.loader is not None
    sys.modules["fmw"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["fmw"])

from fmw.deploy.step import main

sys.exit(main())
