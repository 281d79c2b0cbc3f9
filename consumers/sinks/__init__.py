"""One module per sink; each implements ``consumers.runner.Sink``."""
