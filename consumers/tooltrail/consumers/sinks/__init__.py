"""One module per sink; each implements ``tooltrail.consumers.runtime.runner.Sink``."""
