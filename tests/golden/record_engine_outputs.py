"""Records what the batched engine generates on the default model for a fixed set of calls (greedy, seeded
samples with n > 1, top-k/top-p/min-p, stop strings, a grammar; prefix cache on and off), so that speed work on
the decode loop and the samplers can prove it changed no token.

The tokens depend on the llama.cpp build as well as on our code: pip compiles llama.cpp for the CPU it runs on
(GGML_NATIVE), and an AVX2 build rounds its dot products differently from an AVX-512 one, enough to turn a sampled
or even a greedy token. So engine_outputs.json keeps one recording per build, keyed by the build's signature
(llama.cpp's system-info line, which names the CPU features it was compiled for, and the llama-cpp-python
version); tests/test_engine_golden.py compares a fresh run against the recording of the build it runs on.

    .venv/bin/python tests/golden/record_engine_outputs.py      # record this build (after a DELIBERATE change
                                                                # of what is generated: then drop the others)

Recording adds this build's entry, or replaces it, and keeps the other builds' entries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mctsr_native.generation import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.llama import LlamaBackend, build

EXPECTED = Path(__file__).resolve().parent / "engine_outputs.json"
OPTIONS = dict(n_ctx=4096, seed=7, n_threads=2)  # fixed thread count: the figures must not depend on the machine
SYSTEM = Message(role="system", content="You are a careful math tutor. Reason step by step, then give the answer.")
PROBLEMS = [
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. She sells the "
    "rest for $2 each. How much does she make every day?",
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?",
    "What is 17 * 23?",
]
SCORE = 'root ::= "[Score] " ("-"? [1-9] [0-9]? | "0")'


def ask(text: str, **params) -> GenerationRequest:
    n = params.pop("n", 1)
    return GenerationRequest(messages=(SYSTEM, Message(role="user", content=text)), params=SamplingParams(**params), n=n)


def calls() -> dict[str, list[GenerationRequest]]:
    """Named generate() calls; each call is one batch of requests."""
    return {
        "greedy, three requests": [ask(p, max_tokens=20, temperature=0.0) for p in PROBLEMS],
        "seeded samples, n > 1": [
            ask(PROBLEMS[0], max_tokens=20, temperature=0.8, seed=11, n=3),
            ask(PROBLEMS[1], max_tokens=16, temperature=1.0, top_k=0, top_p=1.0, seed=5, n=2),
        ],
        "min-p and top-p, mixed with greedy": [
            ask(PROBLEMS[2], max_tokens=16, temperature=0.7, top_k=20, top_p=0.9, min_p=0.05, seed=3, n=2),
            ask(PROBLEMS[2], max_tokens=24, temperature=0.0),
        ],
        "stop strings": [ask("Count from 1 to 20.", max_tokens=24, temperature=0.0, stop=("5", "@@never@@")),
                         ask("Count from 1 to 20.", max_tokens=24, temperature=0.9, seed=2, stop=(", 1",), n=2)],
        "grammar": [ask("Grade this answer to 17 * 23: 391.", max_tokens=12, temperature=0.7, seed=5, n=3,
                        grammar=SCORE)],
        "backend seed (no request seed)": [ask(PROBLEMS[1], max_tokens=16, temperature=0.7, n=2)],
    }


NO_CACHE = ("greedy, three requests", "seeded samples, n > 1")  # the calls also run with the prefix cache off


def signature() -> dict[str, str]:
    """What the recorded tokens depend on beyond our code: the llama.cpp build's system-info line (the CPU
    features it was compiled for) and the llama-cpp-python version."""
    import llama_cpp

    return {"system_info": build.system_info(), "llama_cpp_python": str(llama_cpp.__version__)}


def recordings() -> list[dict]:
    """The recordings in engine_outputs.json: {"build": signature(), "recorded": date, "outputs": run()}."""
    return json.loads(EXPECTED.read_text(encoding="utf-8"))["recordings"]


def recording_for(build_signature: dict[str, str]) -> dict | None:
    """The outputs recorded on this build, or None where no recording has this build's signature."""
    return next((r["outputs"] for r in recordings() if r["build"] == build_signature), None)


def run(model: Path, **options) -> dict:
    """The calls on a fresh engine, prefix cache on (all) then off (NO_CACHE): texts, finish reasons, tokens.
    `options` override the engine's (sampling_threads, say); the cache's comes from the loop."""
    out: dict[str, dict] = {}
    for cache in (True, False):
        with LlamaBackend(model, prefix_cache=cache, **{**OPTIONS, **options}) as engine:
            for name, requests in calls().items():
                if not cache and name not in NO_CACHE:
                    continue
                results = engine.generate(requests)
                out[f"{name} (prefix cache {'on' if cache else 'off'})"] = [
                    [[c.text, c.finish_reason, c.generated_tokens] for c in r.completions] for r in results]
    return out


if __name__ == "__main__":
    from mctsr_native.models import default_model_path

    import datetime

    outputs = run(default_model_path())
    mine = signature()
    others = [r for r in recordings() if r["build"] != mine] if EXPECTED.exists() else []
    entry = {"build": mine, "recorded": datetime.date.today().isoformat(), "outputs": outputs}
    EXPECTED.write_text(json.dumps({"recordings": [*others, entry]}, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"wrote {EXPECTED}: this build's recording ({mine['system_info']}), {len(others)} other(s) kept",
          file=sys.stderr)
