"""CLI command groups. Each module exposes ``register(app)``; none imports torch/plotly/pynvml at import time."""
