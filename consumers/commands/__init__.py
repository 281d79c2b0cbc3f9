"""One module per CLI subcommand; each wires library parts together and prints results."""
