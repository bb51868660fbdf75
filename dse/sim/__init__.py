"""Simulation backends (analytic closed forms, the real scalesim) and whole-model evaluation."""
