"""Built-in algorithms: models modelyard trains and serves without user code."""
