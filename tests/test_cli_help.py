"""CLI help: every subcommand and option documented, in plain text (no RST/Markdown backticks).

The subcommands are discovered from the real parser, so a new one is checked without editing
this file.
"""

from __future__ import annotations

import argparse

import pytest

from autosparse.cli import STAGE_COMMANDS, build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


PARSER = build_parser()
SUB = _subparsers(PARSER)
COMMANDS = sorted(SUB.choices)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def test_commands_discovered():
    assert len(COMMANDS) >= 10 and {"prune", "train", "irp", "score"} <= set(COMMANDS)
    # build_parser(command) builds a command from its module alone: the map must know them all
    assert sorted(c for cmds in STAGE_COMMANDS.values() for c in cmds) == COMMANDS


def test_top_level_help_plain():
    text = PARSER.format_help()
    assert "`" not in text, text
    helps = {a.dest: a.help for a in SUB._choices_actions}
    missing = [c for c in COMMANDS if not (helps.get(c) or "").strip()]
    assert not missing, f"subcommands without help: {missing}"
    assert all("`" not in h for h in helps.values())


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help_complete(command):
    sub = SUB.choices[command]
    text = sub.format_help()
    assert "`" not in text, text
    undocumented = [a.option_strings or [a.dest] for a in _options(sub)
                    if not (a.help or "").strip() or a.help == argparse.SUPPRESS]
    assert not undocumented, f"{command}: options without help: {undocumented}"
    for a in _options(sub):  # the raw strings too (a %(...)s-free help renders as written)
        assert "`" not in a.help + str(a.metavar or ""), (command, a.dest, a.help)


def _prune_help(capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(["prune", "--help"])  # as the console runs it (only the pruning module)
    assert e.value.code == 0
    return capsys.readouterr().out


def _option_block(text: str, option: str) -> str:
    """The lines of ``--help`` output describing ``option`` (its line and the indented rest)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith(option + " "))
    block = [lines[start]]
    for ln in lines[start + 1:]:
        if ln.strip().startswith("-"):
            break
        block.append(ln)
    return " ".join(block)


def test_prune_help_lists_choices(capsys):
    text = _prune_help(capsys)
    assert "`" not in text
    scope, ablation = _option_block(text, "--scope"), _option_block(text, "--ablation")
    for name in ("global", "local"):
        assert name in scope, scope
    for name in ("shuffle", "reinit", "invert"):
        assert name in ablation, ablation
    for option in ("--model", "--dataset", "--method", "--width"):
        assert len(_option_block(text, option).split()) > 3, option  # more than "--x X"
