"""Prompts come out exactly as each model family was trained to read them."""

from __future__ import annotations

import pytest

from mctsr_native.generation import Message
from mctsr_native.generation.llama.chat import GEMMA_TEMPLATE, ChatRenderer

MESSAGES = [
    Message(role="system", content="You are a careful math tutor."),
    Message(role="user", content="What is 2 + 3?"),
]

# The chat template stored in Meta-Llama-3-8B-Instruct GGUFs (tokenizer.chat_template), as data.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def test_llama3_instruct_prompt():
    r = ChatRenderer(LLAMA3_TEMPLATE, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    assert r.render(MESSAGES) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a careful math tutor.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 3?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_gemma3_turns_fold_the_system_text_into_the_first_user_turn():
    r = ChatRenderer(GEMMA_TEMPLATE, bos_token="<bos>", eos_token="<eos>")
    assert r.render(MESSAGES) == (
        "<bos><start_of_turn>user\nYou are a careful math tutor.\n\nWhat is 2 + 3?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    two_turns = MESSAGES + [Message(role="assistant", content="5"), Message(role="user", content="Why?")]
    assert r.render(two_turns).endswith(
        "<start_of_turn>model\n5<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n"
    )


def test_assistant_prefix_is_appended_after_the_generation_prompt():
    r = ChatRenderer(GEMMA_TEMPLATE, bos_token="<bos>", eos_token="<eos>")
    assert r.render(MESSAGES, "Step 1:").endswith("<start_of_turn>model\nStep 1:")


@pytest.mark.model
def test_smollm2_uses_its_own_chatml_template(default_model_path):
    from mctsr_native.generation.llama import LlamaBackend

    with LlamaBackend(default_model_path, n_ctx=512) as b:
        assert b.renderer.has_template
        assert b.render(MESSAGES) == (
            "<|im_start|>system\nYou are a careful math tutor.<|im_end|>\n"
            "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
        )
        tokens = b.tokenize_prompt(MESSAGES)
        # special markers are single tokens, not spelled out
        assert tokens[0] == b.model.tokenize("<|im_start|>", add_special=False)[0]
        assert len(tokens) < 40


@pytest.mark.model
def test_gemma3_270m_gets_the_gemma_turn_format_and_one_bos(gemma3_270m_path):
    from mctsr_native.generation.llama import LlamaBackend

    with LlamaBackend(gemma3_270m_path, n_ctx=512) as b:
        assert b.render(MESSAGES).startswith("<bos><start_of_turn>user\nYou are a careful math tutor.")
        tokens = b.tokenize_prompt(MESSAGES)
        assert list(tokens).count(b.model.bos) == 1 and tokens[0] == b.model.bos
