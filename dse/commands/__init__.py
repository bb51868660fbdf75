"""Sub-commands of the focus-dse CLI; each module has register(subparsers)."""
