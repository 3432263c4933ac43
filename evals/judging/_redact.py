"""Redaction of personal data before any text reaches a judge model.

Each kind of personal data is replaced by a typed placeholder (``[EMAIL]``, ``[PHONE]``...).
When a pattern has a label ("MRN:", "DOB:", "phone:"), the label is kept and only the value is
replaced (``MRN: [MRN]``), so the judge still sees what kind of value was there.

Built-in kinds, applied in this order after any custom patterns (each sees the text the
previous ones left, so an email's digits are never counted again as a phone number):

* ``email``: ``name@host.tld``.
* ``dob``: a date *marked* as a birth date: "DOB", "D.O.B.", "date of birth", "birth date",
  "birthdate" or "born on", then a date (``1980-03-14``, ``03/14/1980``, ``14.03.1980``,
  ``19800314``, ``14 March 1980``, ``March 14, 1980``). Unmarked dates are left alone.
* ``ssn``: US social security numbers ``123-45-6789`` (not the invalid 000/666/9xx areas,
  00 groups or 0000 serials), or nine digits after "SSN" / "social security number".
* ``mrn``: a value after "MRN", "medical record number/no./#", "patient ID/number/no." or
  "chart number/no./#": 4 or more characters with a digit, letters and ``-`` allowed.
* ``iban``: two letters, two check digits, then 11 to 30 letters and digits (spaces every
  four allowed), with at least 8 digits in all. The checksum is *not* verified: a mistyped
  IBAN is personal data too.
* ``phone``: international numbers starting with ``+`` or ``00`` (8 to 15 digits, spaces,
  dots, dashes and one bracketed area code allowed); US numbers ``(415) 555-2671``,
  ``415-555-2671``, ``415.555.2671``, ``+1 415 555 2671``, ``1-800-555-0199``; national
  numbers with a leading 0 (``020 7946 0958``, ``01 23 45 67 89``); and any value of 7 to
  15 digits after "phone", "tel", "telephone", "mobile", "cell" or "fax".
* ``id``: other long identifiers: a run of 8 or more digits not part of a decimal or a
  grouped number, and card-like digit groups (``4111 1111 1111 1111``, ``3782 822463 10005``)
  that pass the Luhn checksum (so a list of four years is not a card).

Deliberately *not* redacted (tested): prices (``$1,234.56``, ``1.234,56 €``), versions
(``1.2.3``, ``v2.10.4``), ordinary numbers and years (``42``, ``3.14``, ``2023``), times
(``12:30``), unmarked dates (``2023-10-05``) and short order numbers (``#12345``). Known
over-redaction: a bare 8+ digit number (a population, ``10000000``) is taken for an id.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

BuiltinKind = Literal["email", "dob", "ssn", "mrn", "iban", "phone", "id"]
BUILTIN_KINDS: tuple[BuiltinKind, ...] = ("email", "dob", "ssn", "mrn", "iban", "phone", "id")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:the\s+)?[0-9]{1,2}(?:st|nd|rd|th)?"
_DATE = (
    rf"(?:[0-9]{{1,4}}[./-][0-9]{{1,2}}[./-][0-9]{{2,4}}|[0-9]{{8}}"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH},?\s+[0-9]{{4}}|{_MONTH}\s+{_DAY},?\s+[0-9]{{4}})"
)
_SEP = r"\s*(?:[:#=-]|is|was|no\.?|number)?\s*"
_END = r"(?![\w.-]?[0-9])"  # not followed by more of a number


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


def _luhn(value: str) -> bool:
    """Whether the digits of ``value`` pass the Luhn checksum of payment card numbers."""
    total = 0
    for i, char in enumerate(reversed([c for c in value if c.isdigit()])):
        digit = int(char) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class _Rule:
    """One pattern of a kind: a named group ``value``, if any, is the part replaced."""

    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None


def _rule(kind: str, regex: str, check: Callable[[str], bool] | None = None) -> _Rule:
    return _Rule(kind, re.compile(regex, 0 if kind == "iban" else re.IGNORECASE), check)


_BUILTIN_RULES: tuple[_Rule, ...] = (
    _rule("email", r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b"),
    _rule(
        "dob",
        rf"\b(?:DOB|D\.O\.B\.?|date\s+of\s+birth|birth\s*date|born\s+on)(?!\w){_SEP}"
        rf"(?P<value>{_DATE})(?![0-9])",
    ),
    _rule(
        "ssn",
        r"(?<![\w-])(?!000|666|9[0-9]{2})[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![\w-])",
    ),
    _rule(
        "ssn",
        rf"\b(?:SSN|social\s+security\s+(?:number|no\.?))(?!\w){_SEP}"
        r"(?P<value>[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4})(?![0-9])",
    ),
    _rule(
        "mrn",
        r"\b(?:MRN|medical\s+record\s+(?:number|no\.?|#)|patient\s+(?:id|number|no\.?)"
        rf"|chart\s+(?:number|no\.?|#))(?!\w){_SEP}"
        r"(?P<value>(?=[A-Za-z-]*[0-9])[A-Za-z0-9][A-Za-z0-9-]{2,}[A-Za-z0-9])\b",
    ),
    _rule(
        "iban",
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        lambda v: 15 <= len(v.replace(" ", "")) <= 34 and _digits(v) >= 8,
    ),
    _rule(
        "phone",
        r"\b(?:phone|tel|telephone|mobile|cell|fax)\b\.?(?:\s*(?:number|no\.?))?\s*[:#]?\s*"
        rf"(?P<value>\+?[0-9(][0-9 ().-]{{5,}}[0-9]){_END}",
        lambda v: 7 <= _digits(v) <= 15,
    ),
    _rule(
        "phone",
        r"(?<![\w+])(?:\+|\b00)[1-9][0-9]{0,2}(?:[ .-]?\(0?[0-9]{1,4}\))?"
        rf"(?:[ .-]?[0-9]{{1,4}}){{2,5}}{_END}",
        lambda v: 8 <= _digits(v) <= 15,
    ),
    _rule(
        "phone",
        r"(?<![\w(+.-])(?:1[ .-])?(?:\([0-9]{3}\) ?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}" + _END,
    ),
    _rule("phone", rf"(?<![\w.,-])0[0-9](?:[ .][0-9]{{2}}){{4}}{_END}"),
    _rule("phone", rf"(?<![\w.,-])0[0-9]{{2,4}} [0-9]{{3,4}} [0-9]{{3,4}}{_END}"),
    _rule(
        "id",
        r"(?<![\w.,-])[0-9]{4}(?:[ -][0-9]{6}[ -][0-9]{5}|(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?)"
        r"(?![\w-])",
        _luhn,
    ),
    _rule("id", r"(?<![\w.,])[0-9]{8,}(?![0-9]|[.,][0-9])"),
)


class RedactionConfig(BaseModel):
    """What to redact before judging.

    Attributes:
        enabled: Redact at all (on by default; turn off only for data known to hold no
            personal data).
        kinds: The built-in kinds to apply (all by default).
        patterns: Extra patterns, ``{name: regex}``, applied before the built-in ones in the
            order given; a match becomes ``[NAME]`` (a named group ``value``, if any, is the
            part replaced).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    kinds: tuple[BuiltinKind, ...] = BUILTIN_KINDS
    patterns: dict[str, str] = Field(default_factory=dict)

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, regex in patterns.items():
            if not re.fullmatch(r"[a-z][a-z_]*", name):
                raise ValueError(
                    f"pattern name {name!r} must be lowercase letters and _ (it becomes the "
                    f"placeholder [{name.upper()}])"
                )
            if name in BUILTIN_KINDS:
                raise ValueError(
                    f"pattern name {name!r} is a built-in kind; choose another name, or "
                    "remove the built-in from kinds"
                )
            try:
                compiled = re.compile(regex)
            except re.error as exc:
                raise ValueError(f"pattern {name!r} is not a valid regex: {exc}") from None
            if compiled.fullmatch(""):
                raise ValueError(f"pattern {name!r} matches the empty string; make it stricter")
        return patterns


@dataclass(frozen=True, slots=True)
class Redacted:
    """A redacted text.

    Attributes:
        text: The text with personal data replaced by ``[KIND]`` placeholders.
        counts: How many values of each kind were replaced (kinds with none are absent).
    """

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of values replaced."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class RedactedRecord:
    """A record's judged fields after redaction.

    Attributes:
        question: The redacted question (None when there was none).
        output: The redacted response.
        contexts: The redacted contexts: strings, or document mappings whose ``title`` and
            ``text`` were redacted (other keys are copied).
        counts: Replacements over all fields, by kind.
    """

    question: str | None
    output: str
    contexts: tuple[str | dict[str, Any], ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of values replaced over all fields."""
        return sum(self.counts.values())


def _substitute(rule: _Rule, text: str) -> tuple[str, int]:
    """Replace every match of ``rule`` that passes its check; return the text and count."""
    pattern, check = rule.pattern, rule.check
    placeholder = f"[{rule.kind.upper()}]"
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        group = "value" if "value" in pattern.groupindex and match["value"] else 0
        value = match.group(group)
        if check is not None and not check(value):
            return match.group(0)
        found += 1
        start, end = match.span(group)
        whole = match.group(0)
        offset = match.start()
        return whole[: start - offset] + placeholder + whole[end - offset :]

    return pattern.sub(replace, text), found


def redact(text: str, config: RedactionConfig | None = None) -> Redacted:
    """Replace personal data in ``text`` by typed placeholders (see the module docstring).

    Args:
        text: Any text: a question, a response, a retrieved passage.
        config: What to redact; default: every built-in kind.

    Returns:
        The redacted text and the count of replacements by kind.
    """
    config = config or RedactionConfig()
    if not config.enabled:
        return Redacted(text)
    counts: Counter[str] = Counter()
    rules = [_Rule(name, re.compile(regex)) for name, regex in config.patterns.items()]
    rules += [rule for rule in _BUILTIN_RULES if rule.kind in config.kinds]
    for rule in rules:
        text, found = _substitute(rule, text)
        if found:
            counts[rule.kind] += found
    return Redacted(text, dict(counts))


def redact_record(
    *,
    output: str,
    question: str | None = None,
    contexts: Sequence[str | Mapping[str, Any]] = (),
    config: RedactionConfig | None = None,
) -> RedactedRecord:
    """Redact every field of a record that a judge sees: question, output and contexts.

    Args:
        output: The response to judge.
        question: The user's question, if any.
        contexts: Retrieved passages: strings, or ``{"title", "text", ...}`` mappings.
        config: What to redact; default: every built-in kind.

    Returns:
        The redacted fields and the replacement counts summed over them.
    """
    counts: Counter[str] = Counter()

    def one(text: str) -> str:
        result = redact(text, config)
        counts.update(result.counts)
        return result.text

    new_question = None if question is None else one(question)
    new_output = one(output)
    new_contexts: list[str | dict[str, Any]] = []
    for context in contexts:
        if isinstance(context, str):
            new_contexts.append(one(context))
        else:
            new_contexts.append(
                {k: one(v) if k in ("title", "text") and isinstance(v, str) else v
                 for k, v in context.items()}
            )  # fmt: skip
    return RedactedRecord(new_question, new_output, tuple(new_contexts), dict(counts))
