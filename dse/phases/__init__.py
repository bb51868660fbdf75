"""The phases of a whole VLM query (encoder, prefill, decode), one module each; dse/query.py
declares which run, in order."""
