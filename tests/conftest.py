import os

# Plots render off-screen in tests and CI.
os.environ.setdefault("MPLBACKEND", "Agg")
