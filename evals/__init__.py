"""The engine: prompts, providers, the async runner, scorers and datasets. Never imports ``metrics``."""
