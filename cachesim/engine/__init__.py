"""The numba engine: cache arrays, replacement policies, the hierarchy
rules and the replay loop."""
