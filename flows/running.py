"""What every stored run shares: a checked provider, and the runner over the store."""

from __future__ import annotations

from collections.abc import Sequence

from evals.providers import ConfigError, Provider, ProviderError, create_provider
from evals.runner import CallSpec, NoProgress, ProgressReporter, Runner, RunSummary, retry_policy
from flows.config import EvalmonConfig
from metrics.store import Store


def build_provider(model: str, config: EvalmonConfig) -> Provider:
    """The provider for ``model`` with the configuration's prices and retries; no network call.

    Raises:
        ConfigError: Unknown model string, or missing key or SDK.
    """
    return create_provider(
        model, config.providers, pricing=config.price_table(), retry=retry_policy(config.runner)
    )


async def open_provider(model: str, config: EvalmonConfig) -> Provider:
    """Build the provider for ``model`` and make sure it answers, before anything is stored.

    Raises:
        ConfigError: Unknown model, missing key or SDK, or an endpoint that does not answer.
    """
    provider = build_provider(model, config)
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
    runner = Runner(
        provider, store, cache=store, config=config.runner, progress=progress or NoProgress()
    )
    try:
        return await runner.run(run_id, specs)
    except BaseException:
        store.finish_run(run_id, "interrupted", {})
        raise


def check_resume(store: Store, run_id: str, model_ref: str, prompt_ref: str, dataset: str) -> None:
    """A resumed run must use the model, prompt and data it was started with.

    Otherwise the answers kept from the first attempt would be reported as another model's.

    Raises:
        ConfigError: The stored run differs; the message names what it was started with.
    """
    run = store.get_run(run_id)
    if run is None:
        return
    if (run.model_ref, run.prompt_ref, run.dataset_ref) != (model_ref, prompt_ref, dataset):
        raise ConfigError(
            f"run {run_id!r} was started with {run.prompt_ref} on {run.model_ref} over "
            f"{run.dataset_ref}; resume it with the same prompt, model and dataset, or choose "
            "another --run-id"
        )


class ProviderPool:
    """Providers opened once per model string and closed together (one local server, say)."""

    def __init__(self, config: EvalmonConfig) -> None:
        """Start empty; providers are built on first use and checked before the first call."""
        self._config = config
        self._providers: dict[str, Provider] = {}
        self._checked: set[str] = set()

    def ref(self, model: str) -> str:
        """The provider ref ``model`` resolves to, without any network call.

        Raises:
            ConfigError: Unknown model string, or missing key or SDK.
        """
        return self._build(model).ref

    def _build(self, model: str) -> Provider:
        if model not in self._providers:
            self._providers[model] = build_provider(model, self._config)
        return self._providers[model]

    async def get(self, model: str) -> Provider:
        """The provider for ``model``, checked once to answer (see :func:`open_provider`).

        Raises:
            ConfigError: As :meth:`ref`, or an endpoint that does not answer.
        """
        provider = self._build(model)
        if model not in self._checked:
            try:
                await provider.check()
            except ProviderError as exc:
                raise ConfigError(f"cannot use {provider.ref}: {exc}") from None
            self._checked.add(model)
        return provider

    async def aclose(self) -> None:
        """Close every provider opened."""
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
