"""``fmw demo``: deterministic messy sample sources, loaded for two days.

``sample_data`` writes the team files; ``run`` loads and exports them. It must
never touch a configured server nor hold record rules.
"""
