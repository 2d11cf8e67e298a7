"""Each export format against its rules: every line parses and has the required shape."""

from __future__ import annotations

import orjson
import pytest

from datasets import exports
from datasets.models import Release
from tests.datasets.test_build import built_release, read_lines
from tests.factories import make_example, make_examples

SPLITS = ("train", "validation")


def lines_of(release, fmt):
    return [line for s in SPLITS for line in read_lines(release, f"{s}.{fmt}.jsonl")]


@pytest.fixture
def release(lead):
    make_examples(lead, 12)
    make_examples(lead, 12, corrected=True)
    # a multi-turn production prompt: earlier turns kept in order
    make_example(
        lead,
        question="And the port?",
        answer="7687.",
        messages=[
            {"role": "system", "content": "System prompt.\n\nContext:\n[1] Bolt"},
            {"role": "user", "content": "What is Bolt?"},
            {"role": "assistant", "content": "A protocol."},
            {"role": "user", "content": "And the port?"},
        ],
    )
    built = built_release(lead)
    assert built.state == Release.State.BUILT, built.error
    return built


@pytest.mark.django_db
def test_openai_chat_lines_are_system_user_assistant(release):
    lines = lines_of(release, "openai_chat")
    assert len(lines) == 25
    for line in lines:
        assert set(line) == {"messages"}
        roles = [m["role"] for m in line["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert roles[1::2] == ["user"] * len(roles[1::2])
        assert roles[2::2] == ["assistant"] * len(roles[2::2])
        assert all(m["content"].strip() for m in line["messages"])
        assert exports.errors_openai_chat(line) == []
    multi = [x for x in lines if len(x["messages"]) == 5]
    assert multi and multi[0]["messages"][-1] == {"role": "assistant", "content": "7687."}


@pytest.mark.django_db
def test_openai_chat_prompt_is_the_production_prompt(release):
    from annotations.models import Example

    by_question = {x["messages"][-2]["content"]: x for x in lines_of(release, "openai_chat")}
    for example in Example.objects.all():
        line = by_question[example.question]
        assert line["messages"][:-1] == example.messages
        assert line["messages"][-1] == {"role": "assistant", "content": example.answer}


@pytest.mark.django_db
def test_dpo_lines_pair_correction_against_original(release):
    lines = lines_of(release, "openai_dpo")
    assert len(lines) == 12  # corrected examples only
    for line in lines:
        assert set(line) == {"input", "preferred_output", "non_preferred_output"}
        assert line["input"]["messages"][-1]["role"] == "user"
        assert line["preferred_output"][0]["role"] == "assistant"
        assert line["non_preferred_output"][0]["content"].startswith("Old answer")
        assert line["preferred_output"][0]["content"] != line["non_preferred_output"][0]["content"]
        assert exports.errors_openai_dpo(line) == []


@pytest.mark.django_db
def test_vertex_lines_have_system_instruction_and_user_model_turns(release):
    lines = lines_of(release, "vertex_gemini")
    assert len(lines) == 25
    for line in lines:
        assert set(line) == {"systemInstruction", "contents"}
        assert (
            line["systemInstruction"]["parts"][0]["text"].startswith("System prompt")
            or "Context" in line["systemInstruction"]["parts"][0]["text"]
        )
        roles = [c["role"] for c in line["contents"]]
        assert roles == ["user", "model"] * (len(roles) // 2)
        assert all(p["text"].strip() for c in line["contents"] for p in c["parts"])
        assert exports.errors_vertex_gemini(line) == []


@pytest.mark.django_db
def test_lines_are_compact_sorted_json(release):
    from datasets import selectors

    raw = (selectors.release_folder(release) / "train.openai_chat.jsonl").read_bytes()
    for line in raw.splitlines():
        assert line == orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)


def test_validators_reject_broken_lines():
    ok = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    }
    assert exports.errors_openai_chat(ok) == []
    twice_user = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    }
    assert exports.errors_openai_chat(twice_user)
    empty = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}
    assert "empty" in exports.errors_openai_chat(empty)[0]
    no_answer = {"messages": [{"role": "user", "content": "q"}]}
    assert exports.errors_openai_chat(no_answer)
    same = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "a"}],
    }
    assert exports.errors_openai_dpo(same) == ["preferred and non-preferred outputs are the same"]
    gemini_bad = {"contents": [{"role": "model", "parts": [{"text": "a"}]}]}
    assert exports.errors_vertex_gemini(gemini_bad)
    gemini_assistant = {
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "assistant", "parts": [{"text": "a"}]},
        ]
    }
    assert exports.errors_vertex_gemini(gemini_assistant)


@pytest.mark.django_db
def test_bad_examples_are_left_out_and_reported(lead, settings):
    settings.RELEASE_TOKEN_LIMITS = {"openai_chat": 200}
    make_examples(lead, 11)
    make_example(lead, answer="   ")  # empty answer
    make_example(
        lead,
        question="Long?",
        messages=[{"role": "system", "content": "x" * 2000}, {"role": "user", "content": "Long?"}],
    )
    make_example(
        lead,
        question="Roles?",
        messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "Roles?"}],
    )
    release = built_release(lead, formats=["openai_chat"])
    assert release.state == "built", release.error
    excluded = release.report["validation"]["excluded"]["openai_chat"]
    assert excluded == {"empty content": 1, "too many tokens": 1, "roles out of order": 1}
    assert len(lines_of(release, "openai_chat")) == 11
    assert any("left out" in w for w in release.report["validation"]["warnings"])


def test_token_count_is_a_conservative_upper_bound():
    english = "The snapshot restore takes about five minutes on a small database. " * 20
    # ~4 chars per BPE token on English: the estimate must not be below that
    assert exports.count_tokens([english]) >= len(english) / 4
    assert exports.count_tokens(["東京" * 100]) >= 200  # CJK: at least a token per character
