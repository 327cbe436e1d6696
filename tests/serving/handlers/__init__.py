"""Tests of the model handlers, through ``load_handler`` on the toy models of ``tests.fixtures``."""
