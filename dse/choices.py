"""The values of the categorical knobs and options the command line offers as choices, in a module
that imports nothing: the parsers are built (`focus-dse --help`) without loading the cost model.
Each is checked where its model lives (dse/sim/plan.py, dse/levels.py, dse/cost/buffer_pricing.py,
dse/sim/backends.py), which imports it from here."""

CONVENTIONS = ("focus-paper", "faithful")  # how cycles and energy are counted (README "Two counting conventions")
LEVELS = ("sec+sic", "sec", "sic", "none")  # which of Focus's concentration levels run (dse/levels.py)
SRAM_MODELS = ("compiler", "cacti")  # what prices the buffers; unset: the convention's rule (dse/cost/buffer_pricing.py)
BACKENDS = ("analytic", "scalesim")  # closed forms, or the real scalesim package (dse/sim/backends.py)
