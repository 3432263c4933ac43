"""Which prompts a change touches: the working tree against a base git ref.

The base tree is exported with ``git archive`` into a temporary directory and loaded like
the working tree, so a prompt counts as changed when its content hash (its messages, the
partials it includes, model and parameters) or the hash of one of its suites (the suite, its
dataset's bytes, files its scorers name) differs. Editing a partial therefore changes every
prompt that includes it, and editing a dataset changes every prompt gated by it.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from evals.catalog import PROMPTS_DIR, Catalog
from evals.prompts import Prompt
from evals.providers import ConfigError


class GitError(ConfigError):
    """git failed: not a repository, an unknown ref, git missing (exit code 2)."""


def git(root: Path, *args: str) -> bytes:
    """Run ``git -C root ARGS`` and return its stdout.

    Raises:
        GitError: git is missing or exits non-zero; the message carries git's own.
    """
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed; the gate needs it to read the base ref") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise GitError(f"git {' '.join(args)} failed: {stderr}")
    return done.stdout


def repo_root(start: Path) -> Path:
    """The top directory of the git work tree containing ``start``.

    Raises:
        GitError: ``start`` is not inside a git work tree.
    """
    try:
        return Path(git(start, "rev-parse", "--show-toplevel").decode().strip())
    except GitError:
        raise GitError(f"{start} is not inside a git repository; run the gate from one") from None


def current_branch(root: Path) -> str:
    """The branch being gated: CI's head branch when set, else git's, else ``HEAD``."""
    for variable in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"):
        if value := os.environ.get(variable):
            return value
    try:
        return git(root, "rev-parse", "--abbrev-ref", "HEAD").decode().strip() or "HEAD"
    except GitError:
        return "HEAD"


def resolve_base(root: Path, base: str) -> str:
    """The commit to compare with: the merge base of ``base`` and HEAD, as a pull request does.

    Falls back to ``base`` itself when HEAD has no commit in common with it.

    Raises:
        GitError: ``base`` is not a known ref (the message suggests fetching it).
    """
    try:
        commit = git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except GitError:
        raise GitError(
            f"unknown base ref {base!r}; fetch it first (e.g. git fetch origin main) or pass "
            "--base with a branch, tag or commit"
        ) from None
    try:
        return git(root, "merge-base", base, "HEAD").decode().strip()
    except GitError:
        return commit.decode().strip()


def export_tree(root: Path, commit: str, dest: Path) -> Path:
    """Write the prompts and suites (and their datasets) of ``commit`` under ``dest``."""
    paths = [str(p) for p in (PROMPTS_DIR, Path("evals")) if _exists_at(root, commit, p)]
    if paths:
        archive = git(root, "archive", "--format=tar", commit, "--", *paths)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def _exists_at(root: Path, commit: str, path: Path) -> bool:
    try:
        git(root, "cat-file", "-e", f"{commit}:{path.as_posix()}")
    except GitError:
        return False
    return True


def changed_files(root: Path, commit: str) -> list[str]:
    """Files that differ between ``commit`` and the working tree, untracked ones included."""
    diff = git(root, "diff", "--name-only", "--no-renames", commit, "--").decode().splitlines()
    untracked = git(root, "ls-files", "--others", "--exclude-standard").decode().splitlines()
    return sorted(set(diff) | set(untracked))


@dataclass(frozen=True, slots=True)
class PromptChange:
    """A prompt the gate must run, and why.

    Attributes:
        name: The prompt's name.
        candidate: The working tree's version.
        base: The base commit's version, or None for a new prompt.
        reasons: What changed, for the report ("messages", "partial partials/docs.j2"...).
    """

    name: str
    candidate: Prompt
    base: Prompt | None
    reasons: tuple[str, ...] = field(default_factory=tuple)


def find_changes(base: Catalog, candidate: Catalog) -> list[PromptChange]:
    """The candidate's prompts whose behaviour or suites differ from the base's.

    Raises:
        ConfigError: A prompt whose content changed without a version bump, or whose
            version went down (``FILE:LINE`` and the version to bump to).
    """
    changes = []
    for name, prompt in sorted(candidate.prompts.items()):
        old = base.prompts.get(name)
        reasons = _reasons(base, candidate, name)
        if old is None:
            changes.append(PromptChange(name, prompt, None, ("new prompt",)))
            continue
        if not reasons:
            continue
        if prompt.content_hash != old.content_hash:
            _check_bump(prompt, old)
        changes.append(PromptChange(name, prompt, old, tuple(reasons)))
    return changes


def _reasons(base: Catalog, candidate: Catalog, name: str) -> list[str]:
    new, old = candidate.prompts[name], base.prompts.get(name)
    if old is None:
        return ["new prompt"]
    reasons = []
    if new.content_hash != old.content_hash:
        spec_new = new.spec.model_dump(exclude={"description", "suites", "version"})
        spec_old = old.spec.model_dump(exclude={"description", "suites", "version"})
        reasons += [f"{key} changed" for key in spec_new if spec_new[key] != spec_old.get(key)]
        reasons += [
            f"partial {p} changed"
            for p in sorted(set(new.partials) | set(old.partials))
            if new.partials.get(p) != old.partials.get(p)
        ]
    old_suites = {s.spec.name: s for s in base.suites_of(name)}
    for suite in candidate.suites_of(name):
        before = old_suites.get(suite.spec.name)
        if before is None:
            reasons.append(f"suite {suite.spec.name} added")
        elif before.content_hash != suite.content_hash:
            reasons.append(f"suite {suite.spec.name} or its dataset changed")
    return reasons


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in text.split("."))
    return major, minor, patch


def _check_bump(new: Prompt, old: Prompt) -> None:
    """A changed prompt must carry a higher semver version than the base's."""
    if _version(new.spec.version) > _version(old.spec.version):
        return
    major, minor, patch = _version(old.spec.version)
    verb = "is still" if new.spec.version == old.spec.version else "went down to"
    raise ConfigError(
        f"{new.where(('version',))}: prompt {new.spec.name!r} changed since the base but its "
        f"version {verb} {new.spec.version} (base {old.spec.version}); bump it to "
        f"{major}.{minor}.{patch + 1} for a fix or {major}.{minor + 1}.0 for a new behaviour"
    )
