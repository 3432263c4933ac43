"""Deterministic text scorers: regex, contains, normalized_match."""

from __future__ import annotations

import pytest

from evals.providers import ConfigError
from evals.scorers._text import contains, normalized_match, regex

# --- regex ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "output", "value"),
    [
        (r"\d{4}", "It was 1969.", 1.0),
        (r"\d{4}", "It was in the sixties.", 0.0),
        (r"^Answer:", "Answer: Paris", 1.0),
        (r"^Answer:", "My Answer: Paris", 0.0),
        (r"^Paris$", "Answer:\nParis", 0.0),  # ^ and $ anchor at the output's ends...
        (r"(?m)^Paris$", "Answer:\nParis", 1.0),  # ...unless (?m) says otherwise
        (r"paris", "PARIS", 0.0),  # case-sensitive by default
        (r"a.c", "a\nc", 0.0),  # . does not cross a newline
    ],
)
def test_regex_searches_the_output(pattern: str, output: str, value: float) -> None:
    assert regex(pattern=pattern)(output).value == value


def test_regex_ignore_case() -> None:
    assert regex(pattern="paris", ignore_case=True)("PARIS").value == 1.0


def test_regex_match_text_is_in_details() -> None:
    score = regex(pattern=r"\d+")("about 42 cats")
    assert score.details == {"match": "42"}


def test_regex_full_match_needs_the_whole_stripped_output() -> None:
    scorer = regex(pattern=r"yes|no", full_match=True)
    assert scorer("yes").value == 1.0
    assert scorer("  no\n").value == 1.0  # surrounding whitespace is ignored
    assert scorer("yes, I think").value == 0.0
    assert scorer("noyes").value == 0.0  # alternation must cover everything, not a prefix
    failed = scorer("maybe")
    assert failed.reason == "pattern 'yes|no' does not match the whole output"


def test_regex_failure_reason_names_the_pattern() -> None:
    assert regex(pattern="x")("y").reason == "pattern 'x' does not occur in the output"


def test_regex_empty_output() -> None:
    assert regex(pattern=r"^$")("").value == 1.0
    assert regex(pattern=r"\w")("").value == 0.0


def test_bad_regex_is_a_config_error_naming_pattern_and_error() -> None:
    with pytest.raises(ConfigError, match=r"'\(unclosed'.*missing \), unterminated subpattern"):
        regex(pattern="(unclosed")


def test_empty_regex_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pattern is empty"):
        regex(pattern="")


def test_regex_is_deterministic_and_named() -> None:
    scorer = regex(pattern="x")
    assert (scorer.name, scorer.version, scorer.is_async) == ("regex", "1", False)


# --- contains ------------------------------------------------------------------------------


def test_contains_fixed_text_ignores_case_by_default() -> None:
    scorer = contains(text="Paris")
    assert scorer("the capital is PARIS.").value == 1.0
    assert scorer("the capital is Lyon.").value == 0.0
    assert scorer("no", expected="Lyon").value == 0.0  # text wins over expected


def test_contains_fixed_text_case_sensitive() -> None:
    scorer = contains(text="Paris", ignore_case=False)
    assert scorer("PARIS").value == 0.0
    assert scorer("in Paris").value == 1.0
    assert scorer("PARIS").reason == "output does not contain 'Paris'"


def test_contains_case_folding_is_unicode_aware() -> None:
    assert contains(text="STRASSE")("die Straße").value == 1.0


def test_contains_expected_answers() -> None:
    scorer = contains()
    assert scorer("It is Paris.", expected="paris").value == 1.0
    assert scorer("It is Paris.", expected=["Lyon", "Paris"]).value == 1.0
    assert scorer("It is Paris.", expected={"answers": ["Lyon"]}).value == 0.0


def test_contains_without_text_or_expected_is_unscored() -> None:
    score = contains()("anything")
    assert score.value is None
    assert "no expected answer" in score.reason
    assert contains()("anything", expected=[]).value is None


def test_contains_empty_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="text is empty"):
        contains(text="")


# --- normalized_match ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "value"),
    [
        ("The Beatles!", "beatles", 1.0),
        ("  the   BEATLES ", ["Rolling Stones", "Beatles"], 1.0),
        ("U.S.A.", "USA", 1.0),
        ("The Beatles were great", "Beatles", 0.0),  # equality, not containment
        ("Beatle", "Beatles", 0.0),
    ],
)
def test_normalized_match(output: str, expected: object, value: float) -> None:
    assert normalized_match()(output, expected).value == value


def test_normalized_match_reason_shows_the_normalised_output() -> None:
    assert normalized_match()("The Who!", "Beatles").reason == (
        "normalised output 'who' matches no answer"
    )


def test_normalized_match_unscored_cases() -> None:
    scorer = normalized_match()
    assert scorer("x").value is None
    assert scorer("x").reason == "no expected answer"
    empty = scorer("the", expected="The?")  # the answer normalises to ""
    assert empty.value is None
    assert "normalises to an empty string" in empty.reason
