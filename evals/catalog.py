"""A workspace's prompts and suites, loaded and cross-checked.

Every prompt under ``prompts/`` and every suite under ``evals/suites/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evals.prompts import Prompt, load_prompt
from evals.providers import ConfigError
from evals.suites import Suite, load_suite

PROMPTS_DIR = Path("prompts")
SUITES_DIR = Path("evals/suites")


@dataclass(frozen=True, slots=True)
class Catalog:
    """The prompts and suites of one tree (the working tree, or a base commit's).

    Attributes:
        root: The tree's top directory.
        prompts: Prompts by name.
        suites: Suites by name.
    """

    root: Path
    prompts: dict[str, Prompt] = field(default_factory=dict)
    suites: dict[str, Suite] = field(default_factory=dict)

    def suites_of(self, prompt_name: str) -> list[Suite]:
        """The suites that gate a prompt: those it lists and those that name it."""
        prompt = self.prompts[prompt_name]
        names = set(prompt.spec.suites)
        names |= {name for name, suite in self.suites.items() if suite.spec.prompt == prompt_name}
        return [self.suites[name] for name in sorted(names)]

    def relative(self, path: Path) -> str:
        """``path`` relative to the tree's root, for reports."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def _yaml_files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(p for p in directory.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_catalog(root: Path) -> Catalog:
    """Load every prompt and suite under ``root`` and check they fit together.

    Raises:
        ConfigError: ``FILE:LINE`` of the first problem: a bad file, two prompts or suites
            with one name, a prompt listing a suite that does not exist, or a suite naming a
            prompt that does not exist (or that lists the suite for another prompt).
    """
    catalog = Catalog(root)
    for path in _yaml_files(root / PROMPTS_DIR):
        prompt = load_prompt(path)
        if (other := catalog.prompts.get(prompt.spec.name)) is not None:
            raise ConfigError(
                f"{prompt.where(('name',))}: prompt name {prompt.spec.name!r} is also used by "
                f"{other.where(('name',))}; prompt names must be unique"
            )
        catalog.prompts[prompt.spec.name] = prompt
    for path in _yaml_files(root / SUITES_DIR):
        suite = load_suite(path)
        if (twin := catalog.suites.get(suite.spec.name)) is not None:
            raise ConfigError(
                f"{suite.where(('name',))}: suite name {suite.spec.name!r} is also used by "
                f"{twin.where(('name',))}; suite names must be unique"
            )
        if suite.spec.prompt not in catalog.prompts:
            known = ", ".join(sorted(catalog.prompts)) or "none"
            raise ConfigError(
                f"{suite.where(('prompt',))}: suite {suite.spec.name!r} names prompt "
                f"{suite.spec.prompt!r}, which is not under {root / PROMPTS_DIR} (known: {known})"
            )
        catalog.suites[suite.spec.name] = suite
    for prompt in catalog.prompts.values():
        for index, name in enumerate(prompt.spec.suites):
            listed = catalog.suites.get(name)
            if listed is None:
                raise ConfigError(
                    f"{prompt.where(('suites', index))}: suite {name!r} not found under "
                    f"{root / SUITES_DIR}"
                )
            if listed.spec.prompt != prompt.spec.name:
                raise ConfigError(
                    f"{prompt.where(('suites', index))}: suite {name!r} gates prompt "
                    f"{listed.spec.prompt!r}, not {prompt.spec.name!r}"
                )
    return catalog
