"""Live Prometheus metrics of the capture, the record() context manager and the config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from metrics.capture import (
    DURATION_BUCKETS,
    JSON_KEYS,
    TOKEN_BUCKETS,
    Capture,
    CaptureConfig,
    ProductionRecord,
    hash_user_id,
)
from tests.fakeserver._server import FakeLLMServer

SALT = "metrics-salt-0123456789"
LABELS = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "gpt-4o",
    "evalmon_prompt_version": "rag_qa@1.0.1",
}


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    with Capture(CaptureConfig(directory=tmp_path, app="app", user_id_salt=SALT)) as cap:
        yield cap


def read(capture: Capture) -> list[ProductionRecord]:
    assert capture.flush()
    lines = [
        ln for p in sorted(capture.config.directory.iterdir()) for ln in p.read_text().splitlines()
    ]
    return [ProductionRecord.model_validate_json(line) for line in lines]


def test_histograms_observe_latency_and_tokens(capture: Capture, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue("ok", input_tokens=1200, output_tokens=300)
    fake_llm.enqueue_fault("400")
    client = capture.wrap_openai(
        openai.OpenAI(
            base_url=fake_llm.openai_base_url, api_key="sk-test-metrics-01", max_retries=0
        ),
        prompt="rag_qa@1.0.1",
    )
    with capture.context(user_id="bob", request_id="req-1"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "q"}]
            )

    value = capture.registry.get_sample_value
    ok = {**LABELS, "error_type": ""}
    failed = {**LABELS, "error_type": "BadRequestError"}
    assert value("gen_ai_client_operation_duration_seconds_count", ok) == 1.0
    assert value("gen_ai_client_operation_duration_seconds_count", failed) == 1.0
    assert (value("gen_ai_client_operation_duration_seconds_sum", ok) or 0) > 0
    assert value("gen_ai_client_operation_duration_seconds_bucket", {**ok, "le": "60.0"}) == 1.0
    assert value("gen_ai_client_token_usage_sum", {**LABELS, "gen_ai_token_type": "input"}) == 1200
    assert value("gen_ai_client_token_usage_sum", {**LABELS, "gen_ai_token_type": "output"}) == 300
    out = {**LABELS, "gen_ai_token_type": "output"}
    assert value("gen_ai_client_token_usage_bucket", {**out, "le": "256.0"}) == 0.0
    assert value("gen_ai_client_token_usage_bucket", {**out, "le": "1024.0"}) == 1.0
    # Bounded labels only: no user id, hash, request id or text in any label value.
    values = {
        v
        for metric in capture.registry.collect()
        for s in metric.samples
        for v in s.labels.values()
    }
    for unbounded in ("bob", hash_user_id("bob", SALT), "req-1", "q"):
        assert unbounded not in values


def test_buckets_suit_llm_latency_and_token_counts() -> None:
    assert DURATION_BUCKETS[0] == 0.01 and DURATION_BUCKETS[-1] == 60.0 and 5.0 in DURATION_BUCKETS
    assert TOKEN_BUCKETS[0] == 1 and TOKEN_BUCKETS[-1] == 4**11


def test_metrics_go_to_the_registry_the_app_passes(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with Capture(CaptureConfig(directory=tmp_path, app="app"), registry=registry) as capture:
        assert capture.registry is registry
        with capture.record(model="claude-sonnet-4-5", prompt="p@1") as rec:
            rec.set_output("hi", input_tokens=5, output_tokens=1)
        labels = {**LABELS, "gen_ai_provider_name": "anthropic",
                  "gen_ai_request_model": "claude-sonnet-4-5", "evalmon_prompt_version": "p@1"}  # fmt: skip
        assert (
            registry.get_sample_value(
                "gen_ai_client_operation_duration_seconds_count", {**labels, "error_type": ""}
            )
            == 1.0
        )
        with pytest.raises(ValueError, match="give each Capture its own registry"):
            Capture(CaptureConfig(directory=tmp_path, app="other"), registry=registry)


def test_record_context_manager_records_output_and_errors(capture: Capture) -> None:
    with capture.record(model="anthropic:claude-sonnet-4-5", route="answer", prompt="rag_qa@1.0.1",
                        user_id="u-7", contexts=["doc"], request_id="req-9",
                        input_messages=[{"role": "user", "content": "q"}], max_tokens=100) as rec:  # fmt: skip
        rec.set_output("answer", input_tokens=1200, output_tokens=300, finish_reason="end_turn",
                       model_version="claude-sonnet-4-5-20250929", logprobs=[-0.1])  # fmt: skip
    assert rec.request_id == "req-9"
    with pytest.raises(RuntimeError, match="validator"), capture.record(model="gpt-4o") as failed:
        failed.set_output("unchecked")
        raise RuntimeError("validator rejected api_key=sk-live-abcdefgh12345678")

    good, bad = read(capture)
    assert (good.provider_name, good.request_model, good.status) == (
        "anthropic", "claude-sonnet-4-5", "ok"
    )  # fmt: skip
    assert good.response_model == "claude-sonnet-4-5-20250929"
    assert (good.input_tokens, good.output_tokens, good.finish_reasons) == (1200, 300, ["end_turn"])
    assert good.user_hash == hash_user_id("u-7", SALT) and good.contexts == ["doc"]
    assert good.logprobs == [-0.1] and good.request_max_tokens == 100
    assert (bad.provider_name, bad.status, bad.error_type) == ("openai", "error", "RuntimeError")
    assert bad.output_text == "unchecked"
    assert bad.error_message is not None and "sk-live" not in bad.error_message


def test_api_keys_in_any_text_field_are_redacted_on_disk(capture: Capture) -> None:
    key = "sk-proj-abcdefghijklmnop1234"
    with capture.record(model="gpt-4o", contexts=[f"config: {key}"],
                        input_messages=[{"role": "user", "content": f"my key is {key}"}]) as rec:  # fmt: skip
        rec.set_output(f"Do not share {key}")
    [record] = read(capture)
    assert key not in record.model_dump_json()
    assert record.output_text == "Do not share [redacted]"


def test_record_content_off_keeps_only_metadata(tmp_path: Path) -> None:
    config = CaptureConfig(directory=tmp_path, app="app", record_content=False)
    with Capture(config) as capture:
        with capture.record(model="gpt-4o", contexts=["doc"],
                            input_messages=[{"role": "user", "content": "q"}]) as rec:  # fmt: skip
            rec.set_output("secret answer", input_tokens=3, output_tokens=2)
        [record] = read(capture)
    assert (record.input_messages, record.output_text, record.contexts) == ([], None, [])
    assert (record.input_tokens, record.output_tokens) == (3, 2)


def test_a_record_that_cannot_be_built_is_counted_not_raised(capture: Capture) -> None:
    with capture.record(model="gpt-4o") as rec:
        rec.set_output("x", input_tokens=-5)  # rejected by the schema
    assert capture.stats().dropped_invalid == 1
    assert (
        capture.registry.get_sample_value(
            "evalmon_capture_dropped_records_total", {"reason": "invalid"}
        )
        == 1.0
    )


def test_config_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"secrets\.token_hex"):
        CaptureConfig(directory=tmp_path, app="app", user_id_salt="short")
    with pytest.raises(ValidationError):
        CaptureConfig(directory=tmp_path, app="bad/name")
    with pytest.raises(ValidationError):
        CaptureConfig(directory=tmp_path, app="app", unknown=1)  # type: ignore[call-arg]
    salt = "a-salt-that-must-not-show-0001"
    assert salt not in repr(CaptureConfig(directory=tmp_path, app="a", user_id_salt=salt))


def test_schema_keys_are_dotted_and_unique() -> None:
    keys = list(JSON_KEYS.values())
    assert len(set(keys)) == len(keys) == len(ProductionRecord.model_fields)
    assert all(
        k.startswith(("evalmon.", "gen_ai.", "user.", "error.", "http.", "openai.")) for k in keys
    )
