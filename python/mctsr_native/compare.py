"""`mctsr report --compare`: did the search beat its first answer, and did it beat spending the same tokens on
independent answers? Paired comparisons of the rows of a report, problem by problem.

Every row of a report (a run's search, or one of its baselines) is a list of right/wrong outcomes per problem
at each budget. Two rows are compared on the problems both have a record for:

- the paired difference of their accuracies, mean(a_i - b_i), with its standard error sd(a - b) / sqrt(n)
  (the problems are the pairing: the same first answer, the same problem difficulty);
- McNemar's exact test: of the problems where exactly one of the two is right (b: only A, c: only B), the
  two-sided binomial p-value of a split at least that uneven under p = 1/2;
- a warning when the pairs cannot tell: fewer than 6 discordant problems (then even 6 to 0 is not p < 0.05)
  or fewer than 30 problems in common.

Compared: at each budget, every pair of rows; and every row at a budget > 0 against its own run's search at
budget 0 (the first answer: the gain of spending the budget at all).

`verdicts` says it in sentences, for the end of `mctsr eval`: at each run's largest budget, the search against
each baseline and against its first answer, "better" or "worse" only when the difference is over twice its
standard error and McNemar's p is under 0.05, else "no significant difference" with the reason it cannot tell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from tabulate import tabulate

from .wording import plural

__all__ = ["Outcomes", "Comparison", "mcnemar_exact", "paired", "outcomes_of", "compare_rows", "format_comparisons",
           "row_label", "verdicts"]

MIN_DISCORDANT = 6  # below this no split reaches p < 0.05
MIN_PAIRS = 30


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs: 2 P(X <= min(b, c)), X ~ Bin(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass
class Outcomes:
    """One row at one budget: right (True) or wrong per problem id, and mean generated tokens."""

    label: str
    budget: int
    right: dict[str, bool]
    tokens: dict[str, int]
    run: str = ""  # the run the row comes from (a baseline is paired with its own run's search)
    method: str = "mctsr"


@dataclass
class Comparison:
    """A against B on their common problems."""

    a: str
    b: str
    budget_a: int
    budget_b: int
    n: int
    acc_a: float
    acc_b: float
    diff: float  # mean(a_i - b_i)
    se: float
    only_a: int  # discordant: A right, B wrong
    only_b: int
    p: float  # McNemar exact, two-sided
    tokens_a: float
    tokens_b: float

    @property
    def warning(self) -> str:
        if self.only_a + self.only_b < MIN_DISCORDANT:
            return f"too few discordant problems ({self.only_a + self.only_b}) to tell"
        if self.n < MIN_PAIRS:
            return f"only {self.n} problems in common"
        return ""


def paired(a: Outcomes, b: Outcomes) -> Comparison | None:
    """A against B on the problems both have (None when they share none)."""
    common = sorted(set(a.right) & set(b.right))
    if not common:
        return None
    xs = [int(a.right[i]) - int(b.right[i]) for i in common]
    n = len(xs)
    mean = sum(xs) / n
    var = sum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else float("nan")
    only_a = sum(x == 1 for x in xs)
    only_b = sum(x == -1 for x in xs)
    return Comparison(
        a=a.label, b=b.label, budget_a=a.budget, budget_b=b.budget, n=n,
        acc_a=sum(a.right[i] for i in common) / n, acc_b=sum(b.right[i] for i in common) / n,
        diff=mean, se=math.sqrt(var / n) if n > 1 else float("nan"), only_a=only_a, only_b=only_b,
        p=mcnemar_exact(only_a, only_b),
        tokens_a=sum(a.tokens.get(i, 0) for i in common) / n, tokens_b=sum(b.tokens.get(i, 0) for i in common) / n)


def row_label(record: dict[str, Any]) -> str:
    """A report row's name: the method ("mctsr", "sc", "best-of-n"), after the run's group when runs differ."""
    method = str(record.get("method") or "mctsr").replace("_", "-")
    group = record.get("_group") or ""
    return f"{group} {method}".strip() if group else method


def outcomes_of(records: Iterable[dict[str, Any]], label_of: Any) -> list[Outcomes]:
    """Group result records into rows: `label_of(record)` names the row (run and method); one Outcomes per
    (row, budget). The first record of a (row, budget, problem) counts."""
    rows: dict[tuple[str, int], Outcomes] = {}
    for r in records:
        label = label_of(r)
        budget = int(r["rollouts"])
        row = rows.get((label, budget))
        if row is None:
            row = rows[(label, budget)] = Outcomes(label, budget, {}, {}, run=str(r.get("_group") or ""),
                                                   method=str(r.get("method") or "mctsr"))
        key = str(r["id"])
        if key not in row.right:
            row.right[key] = bool(r.get("correct"))
            row.tokens[key] = int(r.get("tokens_generated") or 0)
    return list(rows.values())


def compare_rows(rows: Sequence[Outcomes]) -> list[Comparison]:
    """Every pair of rows at each budget, then each row at a budget > 0 against its run's search at budget 0."""
    out: list[Comparison] = []
    budgets = sorted({r.budget for r in rows})
    for budget in budgets:
        at = [r for r in rows if r.budget == budget]
        for i, a in enumerate(at):
            for b in at[i + 1:]:
                c = paired(a, b)
                if c is not None:
                    out.append(c)
    firsts = {r.run: r for r in rows if r.budget == 0 and r.method == "mctsr"}
    for r in rows:
        first = firsts.get(r.run)
        if r.budget > 0 and first is not None:
            c = paired(r, first)
            if c is not None:
                out.append(c)
    return out


def format_comparisons(comparisons: Sequence[Comparison]) -> str:
    """The comparisons as a table: A, B, n, accuracies, the paired difference ± SE, discordant counts, McNemar p,
    mean generated tokens, and the warning when the pairs cannot tell."""
    if not comparisons:
        return "Paired comparisons: no two rows share a problem."
    rows = []
    for c in comparisons:
        rows.append([f"{c.a} @{c.budget_a}", f"{c.b} @{c.budget_b}", c.n, f"{100 * c.acc_a:.1f}",
                     f"{100 * c.acc_b:.1f}", f"{100 * c.diff:+.1f} ± {100 * c.se:.1f}", f"{c.only_a}/{c.only_b}",
                     f"{c.p:.3g}", f"{c.tokens_a:.0f} / {c.tokens_b:.0f}", c.warning])
    heads = ["A", "B", "n", "A %", "B %", "A - B (points ± SE)", "only A / only B", "McNemar p",
             "generated tokens A / B", "note"]
    return ("Paired comparisons (same problems; SE of the mean paired difference; McNemar's exact two-sided test "
            "on the problems exactly one of the two got right):\n\n"
            + tabulate(rows, headers=heads, tablefmt="simple", disable_numparse=True))


_NAMES = {"sc": "self-consistency", "best_of_n": "best-of-N"}


def verdicts(rows: Sequence[Outcomes]) -> list[str]:
    """One sentence per comparison that answers "did the search pay for its tokens?": at each run's largest
    budget, its search against each baseline at that budget and against its own first answer (budget 0)."""
    out: list[str] = []
    for run in dict.fromkeys(r.run for r in rows):
        mine = [r for r in rows if r.run == run]
        searches = [r for r in mine if r.method == "mctsr" and r.budget > 0]
        if not searches:
            continue
        search = max(searches, key=lambda r: r.budget)
        others = [r for r in mine if r.budget == search.budget and r.method != "mctsr"]
        others += [r for r in mine if r.budget == 0 and r.method == "mctsr"]
        for other in others:
            c = paired(search, other)
            if c is None:
                continue
            what = ("its first answer" if other.method == "mctsr"
                    else f"{_NAMES.get(other.method, other.method)} at matched generated tokens "
                         f"({c.tokens_a:.0f} / {c.tokens_b:.0f} per problem)")
            sig = c.n > 1 and abs(c.diff) > 2 * c.se and c.p < 0.05
            said = ("Better" if c.diff > 0 else "Worse") if sig else "Not a significant difference"
            why = f"; {c.warning}" if c.warning and not sig else ""
            who = f"{run}: the search" if run else "The search"
            spread = f" ± {100 * c.se:.1f}" if math.isfinite(c.se) else ""  # no SE from one problem
            out.append(f"{who} (vote) at {c.budget_a} rollouts against {what}: {100 * c.acc_a:.1f}% vs "
                       f"{100 * c.acc_b:.1f}% on {plural(c.n, 'problem')}, {100 * c.diff:+.1f}{spread} points, "
                       f"McNemar p = {c.p:.2g}. {said}{why}.")
    return out
