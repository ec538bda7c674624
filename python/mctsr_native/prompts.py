"""Every prompt MCTSr sends to the model, as templates a user can override, and the context-fit rule.

The four calls of the paper (arXiv 2406.07394, section 3): the initial answer (zero-shot chain of thought),
the self-refine pair (critique, then a rewrite that follows it) and self-evaluation (a strict reward in
[-100, 100]). `Prompts` holds them as a frozen dataclass; override a field with
`dataclasses.replace(Prompts(), critique_task="...")`.

Layout, chosen for the engine's shared-prefix KV cache: every prompt is
`[system] [user: problem_block, then the variable blocks, then the task]`. The system message and the problem
come first and are identical in every call, so their tokens are evaluated once per problem; the answer block
comes next, so the critique, refine and reward prompts of the same answer share it too.

Context-fit rule (`fit_prompt`): a prompt must satisfy `count_tokens(prompt) + max_tokens <= context_size`.
If it does not, the variable texts (the answer and the critique, never the problem or the task) are shortened
from the middle: the longest one first, down to the length of the next one, then both equally ("water
filling", so neither disappears while the other stays long); cuts fall at whitespace (no word, hence no
token of a word, is split), and the cut is marked in place with "[... N characters omitted ...]"; the
shortening is also reported in `FittedPrompt.omitted` (the solver counts it in its stats and logs a
warning). If the prompt does not fit even with the variable texts emptied, `ContextOverflowError` says how
many tokens the fixed part needs and what to change (a larger context, a smaller cap, a shorter problem).
"""

from __future__ import annotations

import functools
import logging
import math
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal, Sequence

from .errors import ContextOverflowError, InvalidConfigError
from .generation.base import Backend, Message

if TYPE_CHECKING:
    from .generation.client import ModelClient

__all__ = ["Prompts", "TEMPLATE_FIELDS", "MAX_TEMPLATE_CHARS", "template_problem", "CallKind", "AnswerKind", "FittedPrompt", "fit_prompt", "shorten_middle", "OMIT_MARK"]

CallKind = Literal["answer", "critique", "refine", "reward", "verdict"]
AnswerKind = Literal["number", "latex"]

OMIT_MARK = "[... {n} characters omitted ...]"

log = logging.getLogger(__name__)


MAX_TEMPLATE_CHARS = 32768  # one template; far above any instruction, far below what could exhaust memory

# The fields each template may name: nothing else, and no format spec ("{problem:>9}"), conversion ("!r"),
# attribute ("{problem.x}") or index ("{problem[0]}"), so a template (a config file's, a request's in
# `mctsr serve`) can only place the texts, never size or inspect them. Templates not listed are verbatim.
TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "problem_block": ("problem",), "answer_block": ("answer",), "critique_block": ("critique",),
    "answer_task": ("answer_format",), "critique_task": ("answer_format",), "refine_task": ("answer_format",),
    "reward_task": ("answer_format",), "verdict_task": ("answer_format",),
}


def template_problem(name: str, template: object) -> str | None:
    """Why `template` cannot be the prompt template `name` (module doc, TEMPLATE_FIELDS), or None."""
    if not isinstance(template, str):
        return f"prompts.{name} must be a string, got {type(template).__name__}"
    if len(template) > MAX_TEMPLATE_CHARS:
        return f"prompts.{name} has {len(template)} characters, more than the {MAX_TEMPLATE_CHARS} a template may have"
    allowed = TEMPLATE_FIELDS.get(name)
    if allowed is None:
        return None  # inserted verbatim: braces are plain text
    fields = ", ".join("{" + f + "}" for f in allowed)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        return f"prompts.{name} is not a valid template ({e}): write {{{{ and }}}} for literal braces"
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if field_name not in allowed or spec or conversion:
            shown = "{" + field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            return (f"prompts.{name} may use only {fields}, with no format spec, conversion, attribute or index; "
                    f"got {shown[:60]!r}")
    return None


@functools.lru_cache(maxsize=256)
def _parsed(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template's (literal, field name) parts, parsed once: a search fills the same few templates
    thousands of times (bounded: a server's per-request templates cannot grow it without limit)."""
    return tuple((literal, field_name) for literal, field_name, _, _ in string.Formatter().parse(template))


def _fill(template: str, **values: str) -> str:
    """`template` with its fields replaced by `values` (a validated template: names only, no spec)."""
    out = []
    for literal, field_name in _parsed(template):
        out.append(literal)
        if field_name is not None:
            if field_name not in values:
                raise InvalidConfigError(f"a prompt template names {{{field_name}}}, which is not one of its fields")
            out.append(values[field_name])
    return "".join(out)


@dataclass(frozen=True, kw_only=True)
class Prompts:
    """The prompt templates. Blocks name their texts as fields (`{problem}`, `{answer}`, `{critique}`,
    `{answer_format}`: TEMPLATE_FIELDS says which template takes which); the `format_*` strings are inserted
    verbatim as `{answer_format}`. `validate()` refuses anything else."""

    # the system message, identical in every call
    system: str = (
        "You are a careful mathematician. You solve problems step by step, check every calculation, "
        "and state the final answer clearly."
    )
    # opens every user message; keep it first so the problem's tokens are shared by every call
    problem_block: str = "Problem:\n{problem}"
    # the answer being critiqued, refined or graded
    answer_block: str = "Answer:\n{answer}"
    # the critique that the rewrite must follow
    critique_block: str = "Critique of this answer:\n{critique}"
    # answer format for problems with a numeric answer (GSM-style)
    # (placeholders, not examples: a small model copies an example; answers.py reads "<number>" as no answer)
    format_number: str = 'End with the line "The answer is: <number>", with the final number in place of <number>.'
    # answer format for problems whose answer is a LaTeX expression
    format_latex: str = "Put the final answer within \\boxed{}."
    # task of the first, zero-shot chain-of-thought answer
    answer_task: str = "Solve the problem. Let's think step by step. {answer_format}"
    # task of the self-refine critique: strict, every flaw, no rewrite
    critique_task: str = (
        "This answer is weak. Review it strictly: check every step and every calculation, and point out every "
        "flaw, error, unjustified step and missing part. Do not write a new solution, only the critique."
    )
    # task of the self-refine rewrite: must follow the critique
    refine_task: str = (
        "Write a new, corrected answer to the problem that fixes every flaw the critique points out. "
        "Let's think step by step. {answer_format}"
    )
    # task of self-evaluation (sampled reward mode): analysis first, then a verdict word, then a signed grade
    # on a named scale, so the score cannot be mistaken for the answer's number (rewards.py, issue 12)
    reward_task: str = (
        "Grade this answer strictly; be very critical and never give full marks. First check each step and "
        "the final result against the problem, in a few sentences. Then write the line \"[Verdict] correct\" "
        "or \"[Verdict] incorrect\", and a last line \"[Score] S\" with a grade S on this scale, in steps of "
        "10: -100 = completely wrong, -50 = wrong result with some right steps, 0 = unsure, +50 = right "
        "result with flawed steps, +100 = flawless. A correct answer gets a + grade, an incorrect one a - "
        "grade. The grade is not the answer: never write the answer's number as the grade."
    )
    # task of self-evaluation in the probability reward mode: a yes/no question whose first reply token is
    # read from the logits (rewards.verdict_reward; a deviation from the paper offered as an option)
    verdict_task: str = (
        "Is this answer correct? Check the steps and the final result. Reply with one word: Yes or No."
    )
    # the dummy answer the search starts beside (paper section 3.1)
    dummy_answer: str = "I don't know."

    def validate(self) -> None:
        """InvalidConfigError naming the first template that is not a string, is longer than
        MAX_TEMPLATE_CHARS, or names anything but its own fields (TEMPLATE_FIELDS)."""
        for name in self.__dataclass_fields__:
            why = template_problem(name, getattr(self, name))
            if why:
                raise InvalidConfigError(why)

    def answer_format(self, kind: AnswerKind) -> str:
        """The answer-format instruction for a problem of this kind."""
        return self.format_latex if kind == "latex" else self.format_number

    def build(
        self,
        call: CallKind,
        problem: str,
        *,
        answer: str = "",
        critique: str = "",
        answer_kind: AnswerKind = "number",
    ) -> tuple[Message, ...]:
        """The chat messages of one call. `answer` is used by critique/refine/reward, `critique` by refine."""
        fmt = self.answer_format(answer_kind)
        blocks = [_fill(self.problem_block, problem=problem)]
        if call == "answer":
            task = self.answer_task
        elif call == "critique":
            blocks.append(_fill(self.answer_block, answer=answer))
            task = self.critique_task
        elif call == "refine":
            blocks.append(_fill(self.answer_block, answer=answer))
            blocks.append(_fill(self.critique_block, critique=critique))
            task = self.refine_task
        elif call == "reward":
            blocks.append(_fill(self.answer_block, answer=answer))
            task = self.reward_task
        elif call == "verdict":
            blocks.append(_fill(self.answer_block, answer=answer))
            task = self.verdict_task
        else:
            raise ValueError(f"unknown call kind {call!r}")
        blocks.append(_fill(task, answer_format=fmt))
        return (
            Message(role="system", content=self.system),
            Message(role="user", content="\n\n".join(blocks)),
        )

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class FittedPrompt:
    """A prompt that fits the context, and how many characters of each variable text were cut (if any)."""

    messages: tuple[Message, ...]
    prompt_tokens: int
    omitted: dict[str, int] = field(default_factory=dict)  # "answer"/"critique" -> characters omitted


def _water_level(lengths: dict[str, int], need: int) -> int:
    """The largest length L such that cutting every text down to L removes at least `need` characters:
    the longest text is cut first, and texts that are cut end up equally long."""
    sizes = sorted(lengths.values(), reverse=True)
    removed = 0
    for i, size in enumerate(sizes):
        nxt = sizes[i + 1] if i + 1 < len(sizes) else 0
        step = (size - nxt) * (i + 1)  # removed by lowering the i+1 longest texts from `size` to `nxt`
        if removed + step >= need:
            return size - math.ceil((need - removed) / (i + 1))
        removed += step
    return 0


def shorten_middle(text: str, keep: int) -> tuple[str, int]:
    """Keep about `keep` characters of `text` (its start and its end), cutting at whitespace and marking the
    cut with OMIT_MARK. Returns the new text and the number of characters omitted (0 if nothing was cut)."""
    if keep >= len(text):
        return text, 0
    keep = max(keep, 0)
    head_end = keep // 2
    tail_start = len(text) - (keep - head_end)
    # move the cut outwards to whitespace so no word is split
    while head_end > 0 and not text[head_end - 1].isspace() and not text[head_end].isspace():
        head_end -= 1
    while tail_start < len(text) and not text[tail_start].isspace() and not text[tail_start - 1].isspace():
        tail_start += 1
    head, tail = text[:head_end].rstrip(), text[tail_start:].lstrip()
    omitted = len(text) - len(head) - len(tail)
    mark = OMIT_MARK.format(n=omitted)
    return "\n".join(p for p in (head, mark, tail) if p), omitted


def fit_prompt(
    backend: Backend | ModelClient,
    prompts: Prompts,
    call: CallKind,
    problem: str,
    *,
    max_tokens: int,
    answer: str = "",
    critique: str = "",
    answer_kind: AnswerKind = "number",
    max_rounds: int = 12,
    floor_tokens: Callable[[tuple, Sequence[Message]], int] | None = None,
) -> FittedPrompt:
    """Build the prompt of one call so that it fits the context with room for `max_tokens` (module doc).
    `floor_tokens(key, messages)`, when given, remembers the tokens of a prompt's fixed part for the whole
    search (`ModelClient.floor_tokens`); without it they are counted each time a prompt must be shortened."""
    budget = backend.context_size - max_tokens
    originals = {"answer": answer, "critique": critique}
    parts = dict(originals)
    kept = {k: len(v) for k, v in originals.items()}  # characters of each original still in the prompt
    omitted = {k: 0 for k in originals}

    def build() -> tuple[tuple[Message, ...], int]:
        msgs = prompts.build(
            call, problem, answer=parts["answer"], critique=parts["critique"], answer_kind=answer_kind
        )
        return msgs, backend.count_tokens(msgs)

    messages, n = build()
    if n <= budget:
        return FittedPrompt(messages, n)

    bare = prompts.build(call, problem, answer_kind=answer_kind)
    floor = floor_tokens((call, problem, answer_kind), bare) if floor_tokens else backend.count_tokens(bare)
    if floor + 16 > budget:  # 16: room for the omission marks
        raise ContextOverflowError(
            f"the {call} prompt needs {floor} tokens without any answer text, plus max_tokens={max_tokens}, "
            f"but the context holds {backend.context_size} tokens: use a larger context (--n-ctx), a smaller "
            f"{call} token cap, or a shorter problem"
        )
    for _ in range(max_rounds):
        if n <= budget or not any(kept.values()):
            break
        chars = sum(len(m.content) for m in messages)
        per_token = max(chars / max(n, 1), 1.0)  # characters per token of this prompt
        need = math.ceil((n - budget) * per_token * 1.1) + len(OMIT_MARK) + 8
        level = _water_level(kept, need)
        for k, text in originals.items():
            if kept[k] > level:
                parts[k], omitted[k] = shorten_middle(text, min(level, kept[k] - 32))
                kept[k] = len(text) - omitted[k]
        messages, n = build()
    if n > budget:  # the estimates did not converge: drop the variable texts whole
        for k, text in originals.items():
            if text:
                parts[k], omitted[k] = OMIT_MARK.format(n=len(text)), len(text)
        messages, n = build()
        if n > budget:
            raise ContextOverflowError(
                f"the {call} prompt needs {n} tokens plus max_tokens={max_tokens}, but the context holds "
                f"{backend.context_size} tokens: use a larger context (--n-ctx) or smaller token caps"
            )
    cuts = {k: v for k, v in omitted.items() if v}
    log.warning(
        "%s prompt shortened to fit the context: %s",
        call,
        ", ".join(f"{k} lost {v} characters" for k, v in cuts.items()),
    )
    return FittedPrompt(messages, n, cuts)
