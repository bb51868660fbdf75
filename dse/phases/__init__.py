"""The phases of a whole VLM query, one module each with the same entry, run(QueryContext) -> PhaseCost;
dse/query.py declares which run, in order."""
