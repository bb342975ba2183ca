"""The thin loader: reads source files and COPYs their rows into ``raw``.

It must never normalize, hash or decide anything about records; it lands
cells as text and calls ``core.process_batch`` to do the rest in SQL.
"""
