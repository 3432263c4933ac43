"""Generated traffic: the example app answering a seeded day of NQ-Open questions.

``python -m flows.example_app generate --model MODEL --n N --out DIR`` calls
:class:`flows.example_app.RagApp` on ``N`` questions drawn with a seed from the NQ-Open
oracle file and writes what its :class:`~metrics.capture.Capture` records into ``DIR``
(hourly capture files that ``evalmon ingest`` loads), plus a ``README.md`` that says how.

Every answer is a real call to the model. What is simulated is the day around the calls:

* **Timestamps**: the capture's clock is set to a planned time before each call, so the
  requests are spread over one UTC day with a daytime peak (``--day``); latency, tokens and
  answers are as measured, only the start times are rewritten.
* **Users**: fictional ids (``user-0007``), some asking much more than others; only their
  salted hashes are recorded, with a salt that is not secret (they are not real users).
* **Prompt versions**: a rollout during the day. Requests before 09:00 are recorded as
  ``rag_qa@1.0.0``, from 13:00 as the current version, and in between a seeded half each.
  Both versions render the same text (1.0.1 only moved the documents into a partial).
* **Personal data**: a few questions carry an email address or a phone number (reserved
  example domains and fictional numbers), as real users paste them; the judge must see
  them redacted.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from evals.position import load_nq_oracle
from evals.prompts import load_prompt
from evals.providers import ConfigError
from flows.example_app import PROMPT_FILE, RagApp, Retriever, serve
from flows.example_traffic_report import TrafficSummary, readme_text, summarise
from metrics.capture import Capture, CaptureConfig

#: App name of generated traffic: every record says it was generated.
GENERATED_APP = "rag-qa-generated"
#: Salt of the fictional users' hashes (not a secret: the users do not exist).
GENERATED_SALT = "evalmon-generated-traffic-not-a-secret"
_ROLLOUT_START_H, _ROLLOUT_END_H = 9, 13
_PERSONAL = (
    "{q}? my email is {email}",
    "{q} - please text the answer to {phone}",
    "{q} (I'm {name}, reach me at {email} or {phone})",
    "{q}? call me on {phone} if you need more",
)
_NAMES = ("Jane Doe", "Maria Rossi", "Kenji Sato", "Amara Okafor", "Lena Novak")


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request of the simulated day.

    Attributes:
        at: When it starts (UTC).
        question: What the user asks (with personal data for a few).
        user_id: The fictional user.
        prompt_ref: The prompt version recorded.
        request_id: Stable id of the request.
        personal_data: Whether the question carries an email address or phone number.
    """

    at: datetime
    question: str
    user_id: str
    prompt_ref: str
    request_id: str
    personal_data: bool


def _diurnal_weight(hour: float) -> float:
    """Relative traffic at an hour of the day: low at night, peaking mid-afternoon."""
    return 0.25 + math.exp(-(((hour - 14.5) / 4.5) ** 2))


def _personal(question: str, rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    email = f"{name.split()[0].lower()}.{name.split()[1].lower()}@example.com"
    phone = f"+1 415 555 01{rng.randrange(100):02d}"
    return rng.choice(_PERSONAL).format(q=question, email=email, phone=phone, name=name)


def plan_day(
    n: int,
    *,
    day: date,
    seed: int = 0,
    prompt_name: str = "rag_qa",
    current_version: str = "1.0.1",
    previous_version: str = "1.0.0",
    personal_share: float = 0.03,
) -> list[PlannedRequest]:
    """The ``n`` requests of one simulated day, in time order (deterministic for a seed)."""
    rng = random.Random(seed)
    pool = load_nq_oracle()
    questions = [pool[i].question for i in rng.sample(range(len(pool)), n)]
    peak = max(_diurnal_weight(h / 10) for h in range(240))
    seconds: list[float] = []
    while len(seconds) < n:
        moment = rng.uniform(0, 86_400)
        if rng.random() * peak <= _diurnal_weight(moment / 3600):
            seconds.append(moment)
    seconds.sort()
    users = [f"user-{i:04d}" for i in range(max(1, n // 5))]
    weights = [1 / (i + 1) for i in range(len(users))]
    personal = set(rng.sample(range(n), max(1, round(n * personal_share)) if n else 0))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    planned = []
    for i, (question, offset) in enumerate(zip(questions, seconds, strict=True)):
        hour = offset / 3600
        rolled_out = hour >= _ROLLOUT_END_H or (hour >= _ROLLOUT_START_H and rng.random() < 0.5)
        version = current_version if rolled_out else previous_version
        planned.append(
            PlannedRequest(
                at=start + timedelta(seconds=round(offset, 3)),
                question=_personal(question, rng) if i in personal else question,
                user_id=rng.choices(users, weights)[0],
                prompt_ref=f"{prompt_name}@{version}",
                request_id=f"gen-{day:%Y%m%d}-{seed}-{i:05d}",
                personal_data=i in personal,
            )
        )
    return planned


class _SimulatedClock:
    """The capture's clock: the planned start of the request being made."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """What ``generate`` makes.

    Attributes:
        model: Model string of the endpoint.
        n: Requests.
        out: Folder of the capture files and README.
        seed: Seed of the questions, times, users, versions and personal data.
        day: The simulated UTC day.
        top_k: Passages retrieved per question.
        max_words: Words kept per passage (short prompts answer faster).
        command: The command line, for the README.
    """

    model: str
    n: int
    out: Path
    seed: int = 0
    day: date | None = None
    top_k: int = 3
    max_words: int | None = 40
    command: str = ""


def generate(options: GenerateOptions, console: Console | None = None) -> TrafficSummary:
    """Call the example app on a planned day of questions; write capture files and README.

    Raises:
        ConfigError: The folder already holds capture files, or the model cannot be used.
    """
    console = console or Console(stderr=True)
    out = options.out
    if options.n < 1:
        raise ConfigError("generate at least one request (--n 1 or more)")
    if out.exists() and any(out.glob("*.jsonl*")):
        raise ConfigError(f"{out} already holds capture files: remove them or pick another --out")
    day = options.day or (datetime.now(UTC) - timedelta(days=1)).date()
    retriever = Retriever()
    prompt = load_prompt(PROMPT_FILE)
    plan = plan_day(
        options.n, day=day, seed=options.seed, prompt_name=prompt.spec.name,
        current_version=prompt.spec.version,
    )  # fmt: skip
    clock = _SimulatedClock(plan[0].at)
    config = CaptureConfig(directory=out, app=GENERATED_APP, user_id_salt=SecretStr(GENERATED_SALT))
    started = time.perf_counter()
    errors = 0
    with serve(options.model) as endpoint, Capture(config, clock=clock) as capture:
        app = RagApp(
            endpoint, capture, retriever=retriever, prompt=prompt, top_k=options.top_k,
            max_words=options.max_words,
        )  # fmt: skip
        for i, request in enumerate(plan, start=1):
            clock.moment = request.at
            answer = app.answer(
                request.question, user_id=request.user_id, request_id=request.request_id,
                prompt_ref=request.prompt_ref,
            )  # fmt: skip
            errors += answer.error is not None
            capture.flush()  # written under this request's hour before the clock moves on
            if i % 25 == 0 or i == len(plan):
                rate = (time.perf_counter() - started) / i
                console.print(
                    f"{i}/{len(plan)} requests, {errors} errors, {rate:.2f} s per request",
                    highlight=False,
                )
        capture.flush()
    wall_s = time.perf_counter() - started
    summary = summarise(out, plan, wall_s=wall_s, model=options.model, day=day)
    (out / "README.md").write_text(readme_text(summary, options.command), encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m flows.example_app generate ...``: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.example_app", description="The example RAG app's traffic."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="Answer a seeded day of questions; write captures.")
    gen.add_argument("--model", default="local:smollm2", help="Model string of the endpoint.")
    gen.add_argument("--n", type=int, default=300, help="Requests to make.")
    gen.add_argument("--out", type=Path, required=True, help="Folder for the capture files.")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--day", type=date.fromisoformat, default=None,
                     help="Simulated UTC day, YYYY-MM-DD (default: yesterday).")  # fmt: skip
    gen.add_argument("--top-k", type=int, default=3, help="Passages per question.")
    gen.add_argument("--max-words", type=int, default=40, help="Words kept per passage.")
    args = parser.parse_args(argv)
    raw = sys.argv[1:] if argv is None else list(argv)
    options = GenerateOptions(
        model=args.model, n=args.n, out=args.out, seed=args.seed, day=args.day,
        top_k=args.top_k, max_words=args.max_words,
        command="python -m flows.example_app " + shlex.join(raw),
    )  # fmt: skip
    try:
        summary = generate(options)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(summary.as_dict(), indent=2))
