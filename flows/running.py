"""What every stored run shares: a checked provider, and the runner over the store."""

from __future__ import annotations

from collections.abc import Sequence

from evals.providers import ConfigError, Provider, ProviderError, create_provider
from evals.runner import CallSpec, NoProgress, ProgressReporter, Runner, RunSummary, retry_policy
from flows.config import EvalmonConfig
from metrics.store import Store


async def open_provider(model: str, config: EvalmonConfig) -> Provider:
    """Build the provider for ``model`` and make sure it answers, before anything is stored.

    Raises:
        ConfigError: Unknown model, missing key or SDK, or an endpoint that does not answer.
    """
    provider = create_provider(
        model, config.providers, pricing=config.price_table(), retry=retry_policy(config.runner)
    )
    try:
        await provider.check()
    except ProviderError as exc:
        await provider.aclose()
        raise ConfigError(f"cannot use {provider.ref}: {exc}") from None
    except BaseException:
        await provider.aclose()
        raise
    return provider


async def run_and_store(
    provider: Provider,
    store: Store,
    run_id: str,
    specs: Sequence[CallSpec],
    config: EvalmonConfig,
    progress: ProgressReporter | None = None,
) -> RunSummary:
    """Run ``specs`` with the store as sink and cache; an interrupted run is marked so."""
    runner = Runner(provider, store, cache=store, config=config.runner,
                    progress=progress or NoProgress())  # fmt: skip
    try:
        return await runner.run(run_id, specs)
    except BaseException:
        store.finish_run(run_id, "interrupted", {})
        raise
