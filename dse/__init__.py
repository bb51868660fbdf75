"""focus-dse: design-space exploration of VLM accelerators with a token concentration unit."""

__version__ = "0.1.0"
