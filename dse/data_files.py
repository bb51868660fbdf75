"""Where the shipped data lives (reference data from the Focus paper, model specs)."""

from importlib.resources import files
from pathlib import Path

DATA_DIR = Path(str(files("dse") / "data"))
REFERENCE_DIR = DATA_DIR / "reference" / "focus"
MODELS_DIR = DATA_DIR / "models"
