"""Flags that cannot be misread (issue 25): no abbreviations, llama.cpp's `-n`, `-f` and `-fa`, short usage errors
with the closest match, whole help texts, the [model] config section and ambiguous flat keys, `solve(max_tokens=)`."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import pytest

from mctsr_native import cli, cli_solve
from mctsr_native.cli_options import effective_config
from mctsr_native.solve_config import SolveConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from solver_fakes import FakeBackend  # noqa: E402


def _parser(command: str = "solve") -> argparse.ArgumentParser:
    return cli.build_parser()._mctsr_subparsers.choices[command]  # type: ignore[attr-defined]


def _usage_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


# ----- abbreviations ----------------------------------------------------------------------------------

def test_no_parser_accepts_abbreviations() -> None:
    parser = cli.build_parser()
    subs = parser._mctsr_subparsers.choices  # type: ignore[attr-defined]
    assert parser.allow_abbrev is False and subs and all(p.allow_abbrev is False for p in subs.values())


@pytest.mark.parametrize("argv, prefix_of", [
    (["solve", "x", "--n-gpu", "5"], "--n-gpu-layers"),
    (["solve", "x", "--roll", "3"], "--rollouts"),
    (["eval", "--data", "d.jsonl", "--out", "o.jsonl", "--lim", "3"], "--limit"),
    (["report", "r.jsonl", "--form", "csv"], "--format"),
    (["view", "r.json", "--form", "dot"], "--format"),
])
def test_a_prefix_of_a_flag_is_an_error_not_that_flag(argv: list[str], prefix_of: str, capsys) -> None:
    err = _usage_error(argv, capsys)
    assert "unrecognized arguments" in err and f"did you mean {prefix_of}?" in err


# ----- llama.cpp's -n, -fa, -f ---------------------------------------------------------------------------

def test_n_is_llama_cpp_n_predict_the_answer_cap() -> None:
    default = SolveConfig()
    for flag in ("-n", "--n-predict"):
        args = _parser().parse_args(["x", flag, "64"])
        config = cli_solve.solve_config_from_args(args)
        assert (config.answer_max_tokens, config.refine_max_tokens) == (64, 64)
        assert config.critique_max_tokens == default.critique_max_tokens
        assert "n_gpu_layers" not in cli_solve.backend_options(args)  # never --n-gpu-layers
    args = _parser().parse_args(["x", "-n", "64", "--max-tokens", "32", "--refine-max-tokens", "80"])
    config = cli_solve.solve_config_from_args(args)  # the per-kind flag, then -n, then --max-tokens
    assert (config.answer_max_tokens, config.critique_max_tokens, config.refine_max_tokens) == (64, 32, 80)


@pytest.mark.parametrize("value", ["-1", "0", "many"])
def test_n_without_a_cap_is_refused_with_the_reason(value: str, capsys) -> None:
    err = _usage_error(["solve", "x", "-n", value], capsys)
    assert "argument -n/--n-predict" in err and "number of tokens" in err
    if value == "-1":
        assert "no limit is not offered" in err


def test_flash_attn_takes_llama_cpp_values_only(capsys) -> None:
    for value in ("on", "off", "auto"):
        args = _parser().parse_args(["x", "-fa", value])
        assert cli_solve.backend_options(args) == {"flash_attn": value}
    err = _usage_error(["solve", "x", "-fa", "5"], capsys)
    assert "invalid choice: '5'" in err and "'on'" in err


def test_f_is_the_problem_file_as_in_llama_cpp(tmp_path: Path) -> None:
    problem = tmp_path / "problem.txt"
    problem.write_text("What is 2 + 2?\n", encoding="utf-8")
    for flag in ("-f", "--file"):
        args = _parser().parse_args([flag, str(problem)])
        assert cli_solve._read_problem(args) == "What is 2 + 2?\n"
        assert "flash_attn" not in cli_solve.backend_options(args)


# ----- usage errors -------------------------------------------------------------------------------------

def test_a_usage_error_is_short_and_suggests_the_closest_flag(capsys) -> None:
    err = _usage_error(["solve", "--rolouts", "2", "x"], capsys)
    lines = err.splitlines()
    assert lines[0] == "usage: mctsr solve [options] [problem]" and len(lines) <= 4, err
    assert "unrecognized arguments: --rolouts" in lines[1] and "did you mean --rollouts?" in err
    err = _usage_error(["eval", "--data", "d.jsonl"], capsys)
    assert err.splitlines()[0] == "usage: mctsr eval [options] --data DATA --out OUT"
    err = _usage_error(["slove", "x"], capsys)
    assert "did you mean solve?" in err and len(err.splitlines()) <= 4
    err = _usage_error(["solve", "x", "--progress", "line"], capsys)
    assert "did you mean lines?" in err
    err = _usage_error(["solve", "x", "--zzzz"], capsys)  # nothing close: no guess
    assert "did you mean" not in err and "mctsr solve --help" in err


# ----- help texts -------------------------------------------------------------------------------------

def test_help_and_print_config_read_a_comment_whole(capsys) -> None:
    reward_mode = next(a for a in _parser()._actions if a.dest == "search.reward_mode")
    assert "(the paper); probability: one forward pass reads P(Yes)" in reward_mode.help
    assert reward_mode.help.endswith("(a deviation) [default: sampled]")
    assert cli.main(["solve", "--print-config"]) == 0
    printed = " ".join(line.lstrip("# ") for line in capsys.readouterr().out.splitlines() if line.startswith("#"))
    assert "sampled: k reward replies per answer (the paper); probability: one forward pass" in printed
    assert "the analysis gets 2 characters per token left after the verdict and score lines" in printed


# ----- the model in a config file ------------------------------------------------------------------------

def _config(tmp_path: Path, text: str) -> argparse.Namespace:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return _parser().parse_args(["x", "--config", str(path)])


def test_the_model_and_server_have_their_own_section(tmp_path: Path) -> None:
    assert cli_solve.check_model_options(_config(tmp_path, '[model]\npath = "my.gguf"\n')) == "my.gguf"
    args = _config(tmp_path, '[model]\nserver = "http://127.0.0.1:8080"\n[http]\nmodel = "qwen"\n')
    assert cli_solve.check_model_options(args) == "http://127.0.0.1:8080"
    assert cli_solve.backend_options(args)["model"] == "qwen"
    args = _config(tmp_path, 'server = "http://h:1"\n')  # a flat name that only [model] has
    assert cli_solve.check_model_options(args) == "http://h:1"
    args = _parser().parse_args(["x", "--config", str(tmp_path / "c.toml"), "-m", "flag.gguf"])
    assert effective_config(args)["model"]["path"] == "flag.gguf"  # the flag wins over the file


@pytest.mark.parametrize("text, message", [
    ('model = "x.gguf"\n', "'model' at the top level is ambiguous: it could be [model] or [http] model"),
    ("[llama]\nseed = 3\n", "[llama] seed is set from [search] seed"),
    ('[model]\nfile = "x.gguf"\n', "[model] has no field(s) file"),
])
def test_ambiguous_or_misplaced_names_are_refused(tmp_path: Path, capsys, text: str, message: str) -> None:
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    assert cli.main(["solve", "x", "--config", str(tmp_path / "c.toml")]) == 2
    assert message in capsys.readouterr().err


def test_a_flat_seed_is_the_search_seed(tmp_path: Path) -> None:
    args = _config(tmp_path, "seed = 7\n")
    assert cli_solve.solve_config_from_args(args).seed == 7 and "seed" not in cli_solve.backend_options(args)


def test_print_config_prints_the_model_and_reproduces_the_run(tmp_path: Path, capsys) -> None:
    assert cli.main(["solve", "-m", "some/model.gguf", "-c", "2048", "--print-config"]) == 0
    first = capsys.readouterr().out
    data = tomllib.loads(first)
    assert data["model"] == {"path": "some/model.gguf"} and data["llama"]["n_ctx"] == 2048
    (tmp_path / "e.toml").write_text(first, encoding="utf-8")
    args = _parser().parse_args(["x", "--config", str(tmp_path / "e.toml")])
    assert cli_solve.check_model_options(args) == "some/model.gguf"
    assert cli.main(["solve", "--config", str(tmp_path / "e.toml"), "--print-config"]) == 0
    assert capsys.readouterr().out == first
    assert cli.main(["solve", "--server", "http://127.0.0.1:9", "--print-config"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["model"] == {"server": "http://127.0.0.1:9"} and "http" in data and "llama" not in data


# ----- Python ---------------------------------------------------------------------------------------------

def test_python_solve_takes_max_tokens_as_the_flag_does() -> None:
    from mctsr_native import solve

    result = solve("What is 3 + 4?", backend=FakeBackend(), rollouts=1, max_tokens=32)
    c = result.config
    assert (c["answer_max_tokens"], c["critique_max_tokens"], c["refine_max_tokens"]) == (32, 32, 32)
    c = solve("What is 3 + 4?", backend=FakeBackend(), rollouts=0, max_tokens=32, refine_max_tokens=40).config
    assert (c["answer_max_tokens"], c["refine_max_tokens"]) == (32, 40)
