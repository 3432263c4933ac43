"""Prefect flows and the evalmon CLI; composes ``evals`` (the engine) and ``metrics``."""
