"""The gate: a policy (``[gate]`` in cpmap.toml) evaluated on the verified evidence of one model
version and everything it descends from. ``evaluate`` decides; ``output`` renders for CI."""
