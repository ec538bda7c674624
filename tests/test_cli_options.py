"""The flags generated from the config dataclasses, --config / --print-config, llama.cpp's spellings, --version,
examples in every subcommand's help, and usage errors that show the subcommand's usage."""

from __future__ import annotations

import argparse
import dataclasses
import io
import tomllib
from pathlib import Path

import pytest

from mctsr_native import __version__, cli, cli_solve
from mctsr_native.cli_options import SECTIONS, field_docs
from mctsr_native.tree import TreeConfig


def _solve_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    return parser._mctsr_subparsers.choices["solve"]


def _flag_of(parser: argparse.ArgumentParser, dest: str) -> argparse.Action | None:
    return next((a for a in parser._actions if a.dest == dest), None)


@pytest.mark.parametrize("section", [s for s in SECTIONS if "*" not in s.no_flag], ids=lambda s: s.name)
def test_every_field_is_a_flag_with_its_comment_and_default(section) -> None:
    parser = _solve_parser()
    cls = section.load()
    docs = field_docs(cls)
    flags = 0
    for f in dataclasses.fields(cls):
        if f.name in section.no_flag or f.name in section.derived or f.name in ("extra_body",):
            continue
        action = _flag_of(parser, f"{section.name}.{f.name}")
        assert action is not None, f"{cls.__name__}.{f.name} has no flag"
        assert docs[f.name] and docs[f.name].replace("%", "%%") in action.help, f.name
        assert "[default: " in action.help
        flags += 1
    assert flags == len(dataclasses.fields(cls)) if section.name == "model" else flags >= 5


def test_help_texts_come_from_the_source_comments() -> None:
    from mctsr_native.solve_config import SolveConfig

    assert field_docs(SolveConfig)["reward_samples"] == "k: reward samples of every new answer"
    assert field_docs(TreeConfig)["max_depth"].startswith("Nodes at this depth or deeper are never selected")


def test_every_tree_rule_reaches_the_search() -> None:
    args = _solve_parser().parse_args([
        "x", "--rules", "reference", "--exploration-c", "2.5", "--c-schedule", "linear_decay", "--c-final", "0.5",
        "--max-children", "4", "--q-rule", "mean", "--selection", "descent", "--init", "dummy_root",
        "--suppression", "none", "--max-depth", "3", "--uct-refresh", "live", "--no-suppress-inclusive"])
    tree = cli_solve.solve_config_from_args(args).tree_config()
    assert (tree.exploration_c, tree.c_schedule, tree.c_final, tree.max_children) == (2.5, "linear_decay", 0.5, 4)
    assert (tree.q_rule, tree.selection, tree.init, tree.suppression) == ("mean", "descent", "dummy_root", "none")
    assert (tree.max_depth, tree.uct_refresh, tree.suppress_inclusive) == (3, "live", False)
    # fields not given keep the preset's
    assert tree.backprop == TreeConfig.reference().backprop == "one_level"
    assert tree.root_parent_visits == "zero"


def test_old_spellings_still_parse() -> None:
    args = _solve_parser().parse_args(["x", "--no-grammar", "--stop-on-agreement", "--max-tokens", "32",
                                       "--refine-max-tokens", "64", "--n-ctx", "2048", "--threads", "2",
                                       "--n-gpu-layers", "-1", "--temperature", "0.3", "--seed", "9"])
    config = cli_solve.solve_config_from_args(args)
    assert (config.use_grammar, config.stop_on_agreement, config.temperature, config.seed) == (False, True, 0.3, 9)
    assert (config.answer_max_tokens, config.critique_max_tokens, config.refine_max_tokens) == (32, 32, 64)
    assert cli_solve.backend_options(args) == {"n_ctx": 2048, "n_threads": 2, "n_gpu_layers": -1}


@pytest.mark.parametrize("argv", [
    ["-m", "m.gguf", "-ngl", "99", "-c", "4096", "--temp", "0.2", "-t", "3", "-s", "5"],
    ["--model", "m.gguf", "--gpu-layers", "99", "--ctx-size", "4096", "--temperature", "0.2", "--threads", "3",
     "--seed", "5"],
    ["--model", "m.gguf", "--n-gpu-layers", "99", "--n-ctx", "4096", "--temp", "0.2", "--n-threads", "3", "-s", "5"],
])
def test_llama_cpp_spellings(argv) -> None:
    args = _solve_parser().parse_args(["x", *argv])
    assert cli_solve.check_model_options(args) == "m.gguf"
    assert cli_solve.backend_options(args) == {"n_gpu_layers": 99, "n_ctx": 4096, "n_threads": 3}
    config = cli_solve.solve_config_from_args(args)
    assert (config.temperature, config.seed) == (0.2, 5)


def test_config_file_sections_flat_keys_and_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('rollouts = 3\nmax_depth = 2\n[search]\nreward_samples = 2\nrules = "reference"\n'
                    '[tree]\nexploration_c = 0.7\n[llama]\nn_ctx = 1024\n[prompts]\nsystem = "Be brief."\n')
    args = _solve_parser().parse_args(["x", "--config", str(path), "--rollouts", "5"])
    config = cli_solve.solve_config_from_args(args)
    assert (config.rollouts, config.reward_samples, config.rules) == (5, 2, "reference")
    tree = config.tree_config()
    assert (tree.max_depth, tree.exploration_c, tree.backprop) == (2, 0.7, "one_level")
    assert config.prompts.system == "Be brief."
    assert cli_solve.backend_options(args) == {"n_ctx": 1024}


def test_yaml_config(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  patience: 2\ntree:\n  q_rule: mean\n")
    config = cli_solve.solve_config_from_args(_solve_parser().parse_args(["x", "--config", str(path)]))
    assert config.patience == 2 and config.tree_config().q_rule == "mean"


@pytest.mark.parametrize("text, message", [
    ("[tree]\nmax_kids = 3\n", "[tree] has no field(s) max_kids"),
    ("rolouts = 3\n", "unknown option 'rolouts'"),
    ("rollouts = \n", "not valid TOML"),
    ("[search]\ntop_p = 2.0\n", "top_p must be in (0, 1]"),
])
def test_bad_config_files_are_named(tmp_path: Path, capsys, text, message) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert cli.main(["solve", "x", "--config", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_print_config_is_loadable_back(tmp_path: Path, capsys) -> None:
    assert cli.main(["solve", "--rules", "reference", "--max-depth", "4", "--temp", "0.4", "-c", "2048",
                     "--print-config"]) == 0
    first = capsys.readouterr().out
    data = tomllib.loads(first)
    assert data["search"]["temperature"] == 0.4 and data["tree"]["max_depth"] == 4
    assert data["tree"]["init"] == "two_roots" and data["llama"]["n_ctx"] == 2048
    assert "# k: reward samples of every new answer" in first
    path = tmp_path / "effective.toml"
    path.write_text(first)
    assert cli.main(["solve", "--config", str(path), "--print-config"]) == 0
    assert capsys.readouterr().out == first


def test_version_examples_and_subcommand_usage(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out
    for command in ("solve", "eval", "report", "info", "view", "serve"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        out = capsys.readouterr().out
        assert "\nexamples:\n  mctsr " + command in out, command
    with pytest.raises(SystemExit) as e:
        cli.main(["solve", "x", "--no-such-flag"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("usage: mctsr solve") and "--no-such-flag" in err


def test_progress_vocabulary_is_shared() -> None:
    parser = cli.build_parser()
    for argv, mode in ((["solve", "x", "-q"], "none"), (["solve", "x", "--quiet"], "none"),
                       (["solve", "x", "--progress", "json"], "json"),
                       (["eval", "--data", "d", "--out", "o", "--no-progress"], "none"),
                       (["eval", "--data", "d", "--out", "o", "-q"], "none"),
                       (["eval", "--data", "d", "--out", "o", "--progress", "lines"], "lines")):
        from mctsr_native.cli_progress import progress_mode

        assert progress_mode(parser.parse_args(argv)) == mode
    eval_default = parser.parse_args(["eval", "--data", "d", "--out", "o"])

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_mode(eval_default, Terminal()) == "bar"
    assert progress_mode(eval_default, io.StringIO()) == "lines"  # redirected: no carriage returns in a log
    assert progress_mode(parser.parse_args(["eval", "--data", "d", "--out", "o", "--progress", "bar"]),
                         io.StringIO()) == "bar"  # asked for: given
    assert progress_mode(parser.parse_args(["solve", "x"])) == "lines"
