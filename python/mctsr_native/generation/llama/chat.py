"""Prompt rendering with the model's own chat template (from its GGUF metadata).

Rendering uses llama-cpp-python's Jinja2 chat formatter, which follows Transformers' template rules, so
Llama-3-Instruct, SmolLM2 (ChatML) and Gemma 3 come out as their authors intended. A GGUF without a
template (a base model) falls back to a plain, documented transcript format.
"""

from __future__ import annotations

from typing import Sequence

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from ..base import Message

# Used only when a GGUF carries no chat template: a plain transcript a base model can continue.
PLAIN_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}Question: {{ m.content }}\n\n"
    "{% else %}Answer: {{ m.content }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Answer:{% endif %}"
)


# Used when a GGUF of a known family carries no template (e.g. the Gemma 3 270M base model): the family's
# own turn format, so that base and instruct builds of one family see the same prompt layout.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% set system = messages[0].content if messages and messages[0].role == 'system' else '' %}"
    "{% for m in messages if m.role != 'system' %}"
    "<start_of_turn>{{ 'model' if m.role == 'assistant' else 'user' }}\n"
    "{% if loop.first and system %}{{ system }}\n\n{% endif %}"
    "{{ m.content | trim }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
FAMILY_TEMPLATES = {"gemma": GEMMA_TEMPLATE, "gemma2": GEMMA_TEMPLATE, "gemma3": GEMMA_TEMPLATE}


class ChatRenderer:
    """Renders chat messages to the exact prompt text the model was trained on."""

    def __init__(self, template: str | None, *, bos_token: str, eos_token: str) -> None:
        self.template = template or PLAIN_TEMPLATE
        self.has_template = template is not None
        self.bos_token = bos_token
        self.eos_token = eos_token
        self._formatter = Jinja2ChatFormatter(
            template=self.template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True
        )

    def render(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        result = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        return result.prompt + assistant_prefix


def renderer_for(model, override: str | None = None) -> ChatRenderer:
    """The renderer of a loaded `native.Model`: `override` ("plain" or a Jinja template), else the GGUF's
    template, else its family's (by `general.architecture`), else the plain transcript."""
    bos = model.token_text(model.bos) if model.bos >= 0 else ""
    eos = model.token_text(model.eos) if model.eos >= 0 else ""
    if override == "plain":
        template = None
    elif override:
        template = override
    else:
        template = model.chat_template() or FAMILY_TEMPLATES.get(model.meta("general.architecture") or "")
    return ChatRenderer(template, bos_token=bos, eos_token=eos)


def prompt_tokens(model, renderer: ChatRenderer, messages: Sequence[Message], assistant_prefix: str = "") -> list[int]:
    """Tokens of the rendered prompt, with exactly one BOS where the model wants one."""
    text = renderer.render(messages, assistant_prefix)
    tokens = model.tokenize(text, add_special=False, parse_special=True)
    if model.add_bos and model.bos >= 0 and (not tokens or tokens[0] != model.bos):
        tokens.insert(0, model.bos)
    return tokens
