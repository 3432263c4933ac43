"""The engine: prompts, providers, the async runner, scorers and datasets.

It never imports ``metrics``; where it needs storage it takes a protocol that ``metrics``
implements.
"""
