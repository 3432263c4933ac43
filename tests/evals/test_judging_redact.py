"""Redaction of personal data: every kind, its false-positive traps, config and records."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from evals.judging import BUILTIN_KINDS, RedactionConfig, redact, redact_record

ROOT = Path(__file__).resolve().parents[2]

POSITIVES = [
    # (text, expected redacted text, kind)
    ("Write to john.doe+tag@example.co.uk today", "Write to [EMAIL] today", "email"),
    ("mail: A.B_C%x@mail-server.example.org.", "mail: [EMAIL].", "email"),
    ("call (415) 555-2671 now", "call [PHONE] now", "phone"),
    ("call 415-555-2671", "call [PHONE]", "phone"),
    ("call 415.555.2671", "call [PHONE]", "phone"),
    ("call +1 415 555 2671", "call [PHONE]", "phone"),
    ("toll free 1-800-555-0199.", "toll free [PHONE].", "phone"),
    ("London +44 20 7946 0958", "London [PHONE]", "phone"),
    ("London 0044 20 7946 0958", "London [PHONE]", "phone"),
    ("Paris +33 1 23 45 67 89", "Paris [PHONE]", "phone"),
    ("Berlin +49 (0)30 1234567", "Berlin [PHONE]", "phone"),
    ("Zürich +41-44-668-1800", "Zürich [PHONE]", "phone"),
    ("UK 020 7946 0958", "UK [PHONE]", "phone"),
    ("France 01 23 45 67 89", "France [PHONE]", "phone"),
    ("phone: 555-1234", "phone: [PHONE]", "phone"),
    ("Tel. 555 1234", "Tel. [PHONE]", "phone"),
    ("SSN 123-45-6789", "SSN [SSN]", "ssn"),
    ("her ssn: 123456789", "her ssn: [SSN]", "ssn"),
    ("social security number is 123 45 6789", "social security number is [SSN]", "ssn"),
    ("number 123-45-6789 on file", "number [SSN] on file", "ssn"),
    ("MRN: 12345678", "MRN: [MRN]", "mrn"),
    ("MRN 00123", "MRN [MRN]", "mrn"),
    ("medical record number AB-123456", "medical record number [MRN]", "mrn"),
    ("Patient ID: P-4471", "Patient ID: [MRN]", "mrn"),
    ("chart no. 5521", "chart no. [MRN]", "mrn"),
    ("DOB: 1980-03-14", "DOB: [DOB]", "dob"),
    ("D.O.B.: 03/14/1980", "D.O.B.: [DOB]", "dob"),
    ("date of birth 14.03.1980", "date of birth [DOB]", "dob"),
    ("Date of Birth is 14 Mar 1980", "Date of Birth is [DOB]", "dob"),
    ("She was born on March 14, 1980.", "She was born on [DOB].", "dob"),
    ("born on the 3rd of March 1980", "born on [DOB]", "dob"),
    ("birthdate: 19800314", "birthdate: [DOB]", "dob"),
    ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [IBAN]", "iban"),
    ("IBAN GB82WEST12345698765432", "IBAN [IBAN]", "iban"),
    ("pay GB82 WEST 1234 5698 7654 32 now", "pay [IBAN] now", "iban"),
    ("account 123456789012", "account [ID]", "id"),
    ("member id 12345678.", "member id [ID].", "id"),
    ("card 4111 1111 1111 1111", "card [ID]", "id"),
    ("card 4111-1111-1111-1111", "card [ID]", "id"),
    ("amex 3782 822463 10005", "amex [ID]", "id"),
]

NEGATIVES = [
    "It costs $1,234.56 in total.",
    "Der Preis ist 1.234,56 € pro Monat.",
    "Upgrade from 1.2.3 to v2.10.4 (or 10.0.0.1).",
    "In 2023 there were 42 cases; pi is 3.14 or 3.14159265358979.",
    "The meeting is at 12:30, or 9:00 pm EST.",
    "The study ended on 2023-10-05 at 12:30:00.",
    "Order #12345 and order 1234567 have shipped.",
    "He received 150,782 SEK, equal to 7,731,004 SEK in 2007.",
    "Probability 0.123456789 of failure.",
    "Deadpool 2 is released on May 18, 2018.",
    "He was born 27 March 1845 in Lennep.",  # a date, but not marked "born on"
    "Born in 1980 in Paris.",
    "The score was 6–2, 6–7, 6–3, 3–6, 6–1.",
    "ISBN 978-3-16-148410-0, ISO 8601, KV. 550.",
    "Years 1999 2000 2001 2002 were dry.",  # card-shaped, but fails the Luhn check
    "The patient number increased by 1500 in 2020.",
    "White cell count 4500 per microlitre, dose 2.5 mg, room 101.",
    "Temperatures from -12 to +30 degrees; Tel Aviv is warm.",
    "Between 2008-2010 the rate fell to 20%.",
    "Jeep sold 1.4 million SUVs; 2400 dealerships.",
    "Ratio 3/14/15 and page 1-2 of 10.",
]


@pytest.mark.parametrize(("text", "expected", "kind"), POSITIVES, ids=[p[0] for p in POSITIVES])
def test_each_kind_is_replaced_by_its_placeholder(text: str, expected: str, kind: str) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.counts == {kind: 1}
    assert result.total == 1


@pytest.mark.parametrize("text", NEGATIVES)
def test_false_positive_traps_are_left_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.counts == {} and result.total == 0


def test_several_kinds_in_one_text_are_counted() -> None:
    text = (
        "Patient Jane (DOB: 04/02/1975, MRN: 88123456) called from +1 415 555 2671 and "
        "415-555-0000; email jane@example.com, SSN 123-45-6789. Visit on 2024-01-09."
    )
    result = redact(text)
    assert result.text == (
        "Patient Jane (DOB: [DOB], MRN: [MRN]) called from [PHONE] and "
        "[PHONE]; email [EMAIL], SSN [SSN]. Visit on 2024-01-09."
    )
    assert result.counts == {"dob": 1, "mrn": 1, "phone": 2, "email": 1, "ssn": 1}
    assert result.total == 6


def test_digits_in_an_email_are_not_also_a_phone_or_id() -> None:
    result = redact("reach 4155552671.12345678@example.com")
    assert result.text == "reach [EMAIL]" and result.counts == {"email": 1}


def test_invalid_ssn_areas_are_not_ssns() -> None:
    for text in ("000-12-3456", "666-12-3456", "923-45-6789", "123-00-4567", "123-45-0000"):
        assert redact(text).counts.get("ssn") is None, text


def test_iban_shapes_need_enough_digits() -> None:
    assert redact("code AB12 CDEF GHIJ KLMN").total == 0


def test_redaction_is_on_by_default_and_can_be_turned_off() -> None:
    assert RedactionConfig().enabled
    text = "mail me at a@b.org"
    off = redact(text, RedactionConfig(enabled=False))
    assert off.text == text and off.counts == {}


def test_kinds_can_be_chosen() -> None:
    config = RedactionConfig(kinds=("email",))
    result = redact("a@b.org or 415-555-2671", config)
    assert result.text == "[EMAIL] or 415-555-2671"


def test_extra_patterns_run_first_with_their_own_placeholder() -> None:
    config = RedactionConfig(patterns={"employee_id": r"\bEMP-\d{8}\b"})
    result = redact("by EMP-12345678 for 12345678", config)
    # The custom pattern wins over the generic 8+ digit id, which then takes the second.
    assert result.text == "by [EMPLOYEE_ID] for [ID]"
    assert result.counts == {"employee_id": 1, "id": 1}


def test_extra_pattern_value_group_keeps_the_label() -> None:
    config = RedactionConfig(patterns={"insurer": r"policy (?P<value>[A-Z]{3}\d{4})"})
    assert redact("policy XYZ1234 is active", config).text == "policy [INSURER] is active"


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"Bad Name": "x"}, "lowercase letters"),
        ({"email": "x"}, "built-in kind"),
        ({"broken": "("}, "not a valid regex"),
        ({"empty": "a*"}, "matches the empty string"),
    ],
)
def test_bad_extra_patterns_are_rejected(patterns: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RedactionConfig(patterns=patterns)


def test_config_forbids_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        RedactionConfig.model_validate({"enabled": True, "pattern": {}})
    with pytest.raises(ValidationError):
        RedactionConfig.model_validate({"kinds": ["email", "fax"]})
    assert set(BUILTIN_KINDS) == {"email", "dob", "ssn", "mrn", "iban", "phone", "id"}


def test_a_record_is_redacted_field_by_field_with_total_counts() -> None:
    record = redact_record(
        question="My DOB is 1980-03-14, what dose? Call 415-555-2671.",
        output="Email the clinic at clinic@example.org, quoting MRN 12345678.",
        contexts=[
            "Plain passage from 2019 with no personal data.",
            {"title": "Contact a@b.org", "text": "Phone +44 20 7946 0958", "id": 7},
        ],
    )
    assert record.question == "My DOB is [DOB], what dose? Call [PHONE]."
    assert record.output == "Email the clinic at [EMAIL], quoting MRN [MRN]."
    assert record.contexts == (
        "Plain passage from 2019 with no personal data.",
        {"title": "Contact [EMAIL]", "text": "Phone [PHONE]", "id": 7},
    )
    assert record.counts == {"dob": 1, "phone": 2, "email": 2, "mrn": 1}
    assert record.total == 6


def test_a_record_without_question_or_contexts() -> None:
    record = redact_record(output="nothing here")
    assert (record.question, record.output, record.contexts, record.total) == (
        None, "nothing here", (), 0,
    )  # fmt: skip


def test_wikipedia_passages_of_the_demo_datasets_are_untouched() -> None:
    # Real text full of numbers, dates and years: not one false positive.
    for name in ("nq_open_gate.jsonl", "nq_open_oracle_demo.jsonl"):
        for line in (ROOT / "evals/datasets" / name).read_text(encoding="utf-8").splitlines():
            for doc in json.loads(line)["inputs"]["documents"]:
                assert redact(doc["text"]).total == 0, doc["title"]


def test_only_marked_birth_dates_in_the_full_oracle_pool() -> None:
    # 2,655 Wikipedia passages: the one hit is a birth date marked "born on".
    path = ROOT / "evals/datasets/lost_in_the_middle/qa_data/nq-open-oracle.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    counts: dict[str, int] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            for ctx in json.loads(line)["ctxs"]:
                for kind, n in redact(ctx["text"]).counts.items():
                    counts[kind] = counts.get(kind, 0) + n
    assert counts == {"dob": 1}
