"""Final answers: extraction from a model's reply, and mathematical equivalence of two answers.

Used by the solver (the vote selector groups equal answers) and by evaluation (scoring against ground truth).

- `extract_answer(text, kind)`: the last `\\boxed{...}` (balanced braces), else the last "The answer is: X" /
  "Final answer: X" / "[Answer] X" / "#### X" / "Answer: X" line, else None. Quotes around the answer (or a
  stray one after it) go, and an answer that is itself an answer announcement ("The answer is:") is none.
  With `kind="number"` (a GSM-style problem, `answer_kind`) the answer is reduced to its number: "18 dollars"
  -> "18", "The cost of 12 pencils is $12" -> "12" (the last number), no number -> None.
- `equivalent(a, b)`: multiple-choice letters compare as letters; plain numbers (GSM style: "1,000", "$18",
  "18.00", "18 dollars", "x = 3", "1/2", "\\frac{1}{2}", "50%") compare exactly as fractions, or equal
  after rounding to 6 decimals (1/3 == 0.333333); everything else goes to math-verify (LaTeX and expressions through SymPy) with bounded timeouts.
  Never raises, never hangs.
- `answer_key(a)` / `group_answers(answers)`: a cheap canonical key and equivalence classes for voting;
  `AnswerGroups` builds the same classes one answer at a time.

math-verify's timeouts use SIGALRM, which only works in the main thread; a timeout is retried once with a longer
timer and never remembered as a verdict. Off the main thread (the evaluation's
thread pool) math-verify runs without a timer, so inputs that could make SymPy run away (long strings, power
towers, huge exponents or factorials) are compared as normalized strings only, in every thread.
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from functools import lru_cache
from typing import Literal, Sequence

__all__ = ["extract_answer", "answer_kind", "equivalent", "answer_key", "group_answers", "AnswerGroups"]

FLOAT_DECIMALS = 6  # numbers equal after rounding to this many decimals are equal (math-verify's default)
# Per parse / per verify call (SIGALRM counts whole seconds). A timed-out call is tried once more with the longer
# timer, since a loaded machine can stall a simple parse; a verdict reached in time is remembered, a timeout never.
MATH_VERIFY_TIMEOUTS_S = (1, 4)
MAX_SYMBOLIC_CHARS = 300  # longer answers are compared as normalized strings only
MAX_ANSWER_LINE = 500  # characters after an answer prefix that are read for the answer

# --------------------------------------------------------------------------------------------------- extraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*")
# Prefixes of an answer line; the answer is the rest of that line (prefixes only, so that every
# occurrence is found even when several share a line).
_LINE_PREFIXES = (
    re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+(?:to\s+[^.\n:]{1,40}?\s+)?is\b\s*[:：]?[ \t]*"),
    re.compile(r"(?i)\bfinal\s+answer\s*[:：][ \t]*"),
    re.compile(r"(?i)\[answer\][ \t]*[:：]?[ \t]*"),
    re.compile(r"(?m)^[ \t]*####[ \t]*"),
    re.compile(r"(?im)^\W*answer\s*[:：][ \t]*"),
)
# Words a model puts between "the answer is" and the answer.
_FILLER_RE = re.compile(r"(?i)^(?:(?:indeed|therefore|thus|so|simply|actually|clearly|just|exactly|then|now|"
                        r"approximately|about|equal\s+to|given\s+by|as\s+follows)\b[\s:,]*)+")
# Plain lowercase words are commentary ("the answer is flawed"), except these answers to math questions.
_WORD_ANSWERS = {"yes", "no", "true", "false", "none", "odd", "even", "neither", "both", "undefined", "infinite"}
_PLACEHOLDERS = {"<answer>", "[answer]", "<your answer>", "x", "...", "<number>", "<answer>'", '<answer>"'}


_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.S)  # an escaped character (skipped) or a brace


def _brace_closes(text: str) -> dict[int, int]:
    """For every "{" that closes, the index just past its matching "}": one pass over the braces and escapes
    (so finding the group of every \\boxed{ costs O(len(text)) in all, not per box)."""
    closes: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_TOKEN_RE.finditer(text):
        c = m.group()
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            closes[stack.pop()] = m.end()
    return closes


_BARE_BOX_RE = re.compile(r"[^\s$]*")


def _last_boxed(text: str) -> str | None:
    """Content of the last complete `\\boxed{...}` / `\\fbox{...}` (or `\\boxed 5`)."""
    boxes = list(_BOX_RE.finditer(text))
    closes = _brace_closes(text) if boxes else {}
    for m in reversed(boxes):
        start = m.end()
        if start < len(text) and text[start] == "{":
            end = closes.get(start)
            if end is None:
                continue  # truncated box: try an earlier one
            content = text[start + 1 : end - 1].strip()
        else:
            content = _BARE_BOX_RE.match(text, start).group(0).strip()  # type: ignore[union-attr]
        if content:
            return content
    return None


_COMMA_WORD_RE = re.compile(r",\s+[a-z]{2,}")
# What can end an answer's sentence, or change the bracket depth (the scan visits only these).
_SENTENCE_TOKEN_RE = re.compile(r"[([{]|[)\]}]|\.(?=\s)|,(?=\s+[a-z]{2,})|\s+(?:because|since|which|where)\b")


def _sentence_end(s: str) -> int:
    """Where the answer's sentence ends: the first ". " / ", word" / " because|since|which" outside brackets
    (a decimal point is never followed by a space), else the end."""
    depth = 0
    for m in _SENTENCE_TOKEN_RE.finditer(s):
        c = m.group()[0]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            return m.start()
    return len(s)


_BRACE_RE = re.compile(r"[{}]")


def _balanced_brackets(s: str) -> bool:
    """Braces pair up, and as many ( / [ open as ) / ] close (intervals like "[1, 2)" mix them)."""
    depth = 0
    for m in _BRACE_RE.finditer(s):
        depth += 1 if m.group() == "{" else -1
        if depth < 0:
            return False
    return depth == 0 and s.count("(") + s.count("[") == s.count(")") + s.count("]")


_QUOTES = "\"`“”„«»"  # quote marks that never belong to a math answer (a ' can be a prime: f'(x))


def _strip_quotes(s: str) -> str:
    """The answer without quote marks around it or left after it ("18\"", "'18'", "`x = 3`")."""
    s = s.strip().strip(_QUOTES).strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        s = s[1:-1].strip()
    return s


def _is_announcement(s: str) -> bool:
    """An answer line that only announces one ("The answer is:", "Final answer:"): not an answer."""
    return s.endswith((":", "：")) or any(p.match(s) and p.match(s).end() >= len(s) for p in _LINE_PREFIXES)


def _clean_line_answer(raw: str) -> str:
    """Trim a captured "answer is X" remainder to X: its math span if it opens with one, else up to the
    end of the sentence; markdown emphasis and trailing full stops go. A math span cut off by the token
    cap, or unbalanced brackets, give "" (no answer)."""
    s = raw.strip().strip("*_ ").strip()
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(open_):
            end = s.find(close, len(open_))
            if end < 0 and open_ == "$" and re.match(r"\$\s?\d", s):
                break  # "$1,000.50": an amount of money, not a formula
            if end < 0:
                return ""  # truncated mid-formula
            s = s[len(open_) : end].strip()
            return s if _balanced_brackets(s) else ""
    s = s[: _sentence_end(s)]
    s = _strip_quotes(s.strip().strip("*_").rstrip(".").strip()).rstrip(".").strip()
    return s if _balanced_brackets(s) else ""


def extract_answer(text: str, kind: Literal["number", "latex"] | None = None) -> str | None:
    """The final answer of a model reply: last `\\boxed{}`, else the last answer line, else None; with
    `kind="number"`, the number of that answer (None when it has none)."""
    answer = _extract(text)
    if kind == "number" and answer is not None:
        return _the_number(answer)
    return answer


# a number as written: optional sign, digits with thousands commas or decimals, an optional /denominator or %
_NUMBER_IN_TEXT_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
                                r"(?:\s*/\s*\d+(?:\.\d+)?)?%?")


def _the_number(answer: str) -> str | None:
    """The number of a number-format answer: the answer itself when it is one (written plainly: "18 dollars" ->
    "18", "x = 3" -> "3", "50%", "1/2"; "\\frac{1}{2}" stays), the right side of its last "=" ("20 - 5 = 15"
    -> "15"), the last number of a sentence ("The cost of 12 pencils is $12" -> "12"; no number: None);
    another expression ("2^{10}", "\\sqrt{2}") stays whole, for math-verify to compare."""
    s = _strip_wrappers(answer)
    for part in (s, s.rsplit("=", 1)[-1].strip() if "=" in s else None):
        if part and _number(part) is not None:
            numbers = _NUMBER_IN_TEXT_RE.findall(part.replace("−", "-"))
            return numbers[0] if len(numbers) == 1 and "\\" not in part else part
    if "\\" not in s and re.search(r"[A-Za-z]{2,}", s):  # a sentence around the number
        numbers = _NUMBER_IN_TEXT_RE.findall(s.replace("−", "-"))
        return numbers[-1] if numbers else None
    return s or None


def _extract(text: str) -> str | None:
    """extract_answer without the number rule."""
    if not isinstance(text, str) or not text.strip():
        return None
    boxed = _last_boxed(text)
    if boxed is not None:
        return _strip_quotes(boxed) or None
    # Every answer-line prefix, latest first; the first that yields an answer wins. Each looks at most
    # MAX_ANSWER_LINE characters past its prefix, so the whole extraction is linear in the reply's length.
    ends = sorted({m.end() for pattern in _LINE_PREFIXES for m in pattern.finditer(text)}, reverse=True)
    for end in ends:
        window = text[end : end + MAX_ANSWER_LINE + 1]
        captured, newline, after = window.partition("\n")
        if not captured.strip() and newline:  # "The answer is:" then the answer on the next non-empty line
            captured = next((ln for ln in after.splitlines() if ln.strip()), "")
        long_line = len(captured) > MAX_ANSWER_LINE
        captured = captured[:MAX_ANSWER_LINE]
        answer = _clean_line_answer(_FILLER_RE.sub("", captured.strip()))
        if long_line and len(answer) >= MAX_ANSWER_LINE // 2:
            continue  # a line with no end in sight is not an answer
        if not answer or answer.lower().strip("'\"`") in _PLACEHOLDERS or _is_announcement(answer):
            continue
        if re.fullmatch(r"[a-z][a-z '’-]+", answer) and answer not in _WORD_ANSWERS:
            continue  # commentary, not an answer
        return answer
    return None


_AMOUNT_END = r"(?=\s|[.,;!?)](?:\s|$)|/[a-zA-Z]|$)"  # an amount of money ends: "$2 each", "$2.", "$35/hour"
_CURRENCY_RE = re.compile(
    r"\$\s?(?:\d[\d,]*(?:\.\d+)?|\.\d+)" + _AMOUNT_END  # $2, $18.50, $.25
    + r"|(?<![\w$.])\d[\d,]*(?:\.\d+)?\s?\$" + _AMOUNT_END  # 200$ (written after the amount)
)


def answer_kind(problem: str) -> Literal["number", "latex"]:
    """Which answer format suits a problem: "latex" (\\boxed{}) for LaTeX or multiple-choice problems,
    "number" (a plain "The answer is: N" line) for GSM-style word problems. A "$" that opens an amount of
    money ("$2", "$.25", "200$") is not LaTeX."""
    if not isinstance(problem, str):
        return "number"
    text = _CURRENCY_RE.sub(" ", problem)
    if "$" in text or re.search(r"\\[a-zA-Z]+|\\\(|\\\[", text):
        return "latex"
    if re.search(r"\(A\).*\(B\)", text, re.S):
        return "latex"
    return "number"


# ------------------------------------------------------------------------------------------------ normalization

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[,;:!> ]|\\quad|\\qquad|~")
_UNIT_WORD = r"[a-zA-Z][a-zA-Z.]*(?:\s*\^?\s*[23])?"
_NUMBER_RE = re.compile(
    r"^(?P<sign>[-+]?)\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?"
    r"\s*(?P<pct>%?)"
    r"(?:\s+" + _UNIT_WORD + r"(?:\s+" + _UNIT_WORD + r")*)?$"
)
_FRAC_RE = re.compile(r"^(?P<sign>[-+]?)\\[dt]?frac\s*\{\s*(?P<num>[^{}]+?)\s*\}\s*\{\s*(?P<den>[^{}]+?)\s*\}(?P<rest>.*)$")
_FRAC_SHORT_RE = re.compile(r"^(?P<sign>[-+]?)\\[dt]?frac\s*(?P<num>\d)(?P<den>\d)(?P<rest>.*)$")
_CHOICE_RE = re.compile(r"^\(\s*([A-J])\s*\)(?:\s+.*)?$|^([A-J])(?:[).:](?:\s+.*)?)?$")
_ASSIGN_RE = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*(?!.*=)(.+)$")
_DANGER_RE = re.compile(
    r"\^\s*\{[^{}]*\^|\^\s*\([^()]*\^|\^\s*\w+\s*\^|\^\s*\{?\s*-?\d{4,}|\d{4,}\s*!|\\binom\s*\{\s*\d{5,}|\d{60,}"
)


def _strip_wrappers(s: str) -> str:
    """Remove what never changes an answer's value: math delimiters, \\boxed, \\left/\\right, spacing,
    \\text{} wrappers, currency and degree signs, a trailing full stop."""
    s = s.strip()
    inner = _last_boxed(s)
    if inner is not None:
        s = inner
    s = s.replace("−", "-").replace("\\$", "").replace("$", "").replace("\\(", "").replace("\\)", "")
    s = s.replace("\\[", "").replace("\\]", "")
    s = re.sub(r"\\(?:left|right|displaystyle)\b", "", s)
    s = _SPACING_RE.sub(" ", s)
    s = s.replace("{,}", ",").replace("\\%", "%").replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for _ in range(3):
        s = _TEXT_CMD_RE.sub(r" \1 ", s)
    s = re.sub(r"\b(\d{1,3})((?: \d{3})+)\b", lambda m: m.group(1) + m.group(2).replace(" ", ""), s)
    s = re.sub(r"^[€£¥]|(?<=\d)\s*(?:€|£|¥)$", "", s.strip())
    return re.sub(r"\s+", " ", s).strip().rstrip(".").strip()


def _choice(s: str) -> str | None:
    """The letter of a multiple-choice answer ("(B)", "B", "\\text{(B)}", "(B) 12"), else None."""
    m = _CHOICE_RE.match(s)
    return (m.group(1) or m.group(2)) if m else None


def _to_fraction(text: str) -> Fraction | None:
    try:
        return Fraction(text.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def _number(s: str) -> tuple[Fraction, bool] | None:
    """A plain number (possibly a simple fraction, percent or with a unit word): (value, is_percent)."""
    m = _ASSIGN_RE.match(s)
    if m:
        s = m.group(1).strip()
    for frac_re in (_FRAC_RE, _FRAC_SHORT_RE):
        fm = frac_re.match(s)
        if fm and fm.group("rest").strip() in ("", "%"):
            num, den = _to_fraction(fm.group("num")), _to_fraction(fm.group("den"))
            if num is None or den is None or den == 0:
                return None
            value = num / den
            return (-value if fm.group("sign") == "-" else value), fm.group("rest").strip() == "%"
    m = _NUMBER_RE.match(s)
    if not m:
        return None
    value = _to_fraction(m.group("num"))
    if value is None:
        return None
    if m.group("den"):
        den = _to_fraction(m.group("den"))
        if den is None or den == 0:
            return None
        value /= den
    return (-value if m.group("sign") == "-" else value), bool(m.group("pct"))


def _close(x: Fraction, y: Fraction) -> bool:
    """Exact, or equal once rounded to FLOAT_DECIMALS places (so 1/3 == 0.333333, 999999 != 1000000)."""
    return x == y or round(x, FLOAT_DECIMALS) == round(y, FLOAT_DECIMALS)


def _numbers_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
    """Numeric equality; a percent also matches its fraction (50% == 50 == 0.5)."""
    (x, x_pct), (y, y_pct) = a, b
    if _close(x, y):
        return True
    if x_pct and _close(x / 100, y):
        return True
    return y_pct and _close(x, y / 100)


def _string_key(s: str) -> str:
    """Whitespace-free; case-folded only when no LaTeX command could make case meaningful."""
    s = re.sub(r"\s+", "", s)
    return s if "\\" in s else s.lower()


# ------------------------------------------------------------------------------------------------ math-verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # its timeout warnings would break progress bars


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class _Undecided(Exception):
    """math-verify ran out of time: no verdict, so nothing may be remembered (a loaded machine is not an answer)."""


@lru_cache(maxsize=4096)
def _parse(s: str, timeout: int | None) -> tuple:
    """math-verify's parses of `s`: () when it has none; raises _Undecided when it timed out (not cached)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
    from math_verify.errors import TimeoutException

    try:
        return tuple(
            parse(
                f"${s}$",
                extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
                parsing_timeout=timeout,  # type: ignore[arg-type]
                raise_on_error=True,
            )
        )
    except TimeoutException:
        raise _Undecided from None
    except Exception:  # noqa: BLE001 — garbage in, no parse out
        return ()


def _math_verify_equal(a: str, b: str, timeout: int | None) -> bool:
    from math_verify import verify
    from math_verify.errors import TimeoutException

    pa, pb = _parse(a, timeout), _parse(b, timeout)
    if not pa or not pb:
        return False
    try:
        return bool(
            verify(list(pa), list(pb), timeout_seconds=timeout, raise_on_error=True)  # type: ignore[arg-type]
            or verify(list(pb), list(pa), timeout_seconds=timeout, raise_on_error=True)  # type: ignore[arg-type]
        )
    except TimeoutException:
        raise _Undecided from None
    except Exception:  # noqa: BLE001 — SymPy failing on a comparison means "not shown equal"
        return False


# ----------------------------------------------------------------------------------------------- public API


@lru_cache(maxsize=16384)
def _equivalent(a: str, b: str, timeout: int | None) -> bool:
    na, nb = _strip_wrappers(a), _strip_wrappers(b)
    if not na or not nb:
        return False
    if _string_key(na) == _string_key(nb):
        return True
    ca, cb = _choice(na), _choice(nb)
    if ca is not None or cb is not None:
        return ca == cb
    xa, xb = _number(na), _number(nb)
    if xa is not None and xb is not None:
        return _numbers_equal(xa, xb)
    if any(len(s) > MAX_SYMBOLIC_CHARS or _DANGER_RE.search(s) for s in (na, nb)):
        return False
    return _math_verify_equal(na, nb, timeout)


def equivalent(a: str | None, b: str | None) -> bool:
    """Whether two final answers are mathematically the same (symmetric; False for None or garbage)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    if a > b:  # symmetric cache
        a, b = b, a
    timeouts = MATH_VERIFY_TIMEOUTS_S if _in_main_thread() else (None,)
    try:
        for timeout in timeouts:
            try:
                return _equivalent(a, b, timeout)
            except _Undecided:
                continue
        return False  # undecided even with the longer timer: not shown equal (and not remembered)
    except RecursionError:
        return False
    except Exception:  # noqa: BLE001 — an answer checker must never take a run down
        return False


def answer_key(answer: str | None) -> str:
    """A canonical form: answers with equal keys are equivalent (the converse needs `equivalent`)."""
    if not isinstance(answer, str):
        return ""
    return _answer_key(answer)


@lru_cache(maxsize=16384)
def _answer_key(answer: str) -> str:
    """answer_key of a string, remembered: the selectors regroup every answer of a tree after each step."""
    s = _strip_wrappers(answer)
    choice = _choice(s)
    if choice is not None:
        return f"choice:{choice}"
    try:
        number = _number(s)
    except Exception:  # noqa: BLE001
        number = None
    if number is not None:
        value, pct = number
        text = str(value.numerator) if value.denominator == 1 else f"{float(value):.12g}"
        return f"num:{text}{'%' if pct else ''}"
    return "str:" + _string_key(s)


class AnswerGroups:
    """Answers clustered by equivalence as they arrive: `group_answers` one answer at a time.

    Each pair of distinct keys is compared at most once over the whole life of the object, so a caller that
    regroups after every batch (self-consistency's progress, the search's vote) pays for each new answer, not
    for all of them again. Two plain numbers are equal only if they round alike (`_close`; a percent also as
    its hundredth), so a new number is compared with the numbers of its rounding alone, and with every answer
    that is not a plain number: the same groups as comparing every pair, without the quadratic cost on
    GSM8K-style answers.
    """

    def __init__(self, answers: Sequence[str | None] = ()) -> None:
        self._index: dict[str, int] = {}  # key -> its number
        self._reps: list[str] = []  # each key's first answer, compared on its behalf
        self._members: list[list[int]] = []  # each key's answer indices
        self._parent: list[int] = []  # union-find over key numbers
        self._by_rounding: dict[Fraction, list[int]] = {}  # plain-number keys under each value they can equal
        self._not_numbers: list[int] = []  # the other keys: compared with everything
        self.count = 0  # answers added, grouped or not
        for a in answers:
            self.add(a)

    def _find(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def add(self, answer: str | None) -> None:
        """Add the next answer (index `count`); None, empty and garbage answers join no group."""
        index, self.count = self.count, self.count + 1
        if not isinstance(answer, str) or not answer.strip():
            return
        key = answer_key(answer)
        if key in ("", "str:"):
            return
        k = self._index.get(key)
        if k is not None:
            self._members[k].append(index)
            return
        k = len(self._reps)
        self._index[key] = k
        self._parent.append(k)
        self._reps.append(answer)
        self._members.append([index])
        number = _number(_strip_wrappers(answer)) if key.startswith("num:") else None
        if number is None:
            candidates: Sequence[int] = range(k)
            self._not_numbers.append(k)
        else:
            value, pct = number
            roundings = {round(value, FLOAT_DECIMALS)}
            if pct:
                roundings.add(round(value / 100, FLOAT_DECIMALS))
            near = {j for r in roundings for j in self._by_rounding.get(r, ())}
            candidates = sorted(near.union(self._not_numbers))
            for r in roundings:
                self._by_rounding.setdefault(r, []).append(k)
        for j in candidates:
            if self._find(j) != self._find(k) and equivalent(self._reps[j], answer):
                self._parent[self._find(k)] = self._find(j)

    def groups(self) -> list[list[int]]:
        """The answer indices of each group, each in order, groups in order of their first answer."""
        merged: dict[int, list[int]] = {}
        for k, members in enumerate(self._members):
            merged.setdefault(self._find(k), []).extend(members)
        return sorted((sorted(g) for g in merged.values()), key=lambda g: g[0])


def group_answers(answers: Sequence[str | None]) -> list[list[int]]:
    """Indices of `answers` clustered by equivalence, in order of first appearance.

    None (no extractable answer) and empty answers belong to no group. Answers with equal keys are grouped
    without further checks; distinct keys are merged when `equivalent` says so (union-find, so the
    clustering is transitive).
    """
    return AnswerGroups(answers).groups()
