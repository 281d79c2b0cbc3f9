"""``tooltrail completion bash|zsh``: a shell completion script generated from the parser.

The script is static (no Python runs on Tab): every sub-command path with the words that may
follow it (nested sub-commands, options, a positional's choices), so it is always what this
install's ``tooltrail`` accepts.
"""

from __future__ import annotations

import argparse
from typing import Any

from tooltrail.consumers.app.commands import add

_ZSH_PRELUDE = "autoload -U +X bashcompinit && bashcompinit\n"


def completion_words(parser: argparse.ArgumentParser, path: str = "") -> dict[str, list[str]]:
    """``{"dlq show": [words…], …}``: what may follow each sub-command path ("" = the top)."""
    words: list[str] = []
    table = {path: words}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                table |= completion_words(sub, f"{path} {name}".strip())
        elif action.option_strings:
            if action.help != argparse.SUPPRESS:
                words += [o for o in action.option_strings if o.startswith("--")]
        elif action.choices:
            words += [str(c) for c in action.choices]
    return table


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash completion function for ``tooltrail``, registered with ``complete -F``."""
    table = completion_words(parser)
    paths = "|".join(f'"{p}"' for p in table if p)
    cases = "\n".join(f'    "{p}") words="{" ".join(w)}" ;;' for p, w in table.items())
    return f"""# tooltrail completion (bash): eval "$(tooltrail completion bash)"
_tooltrail() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" next words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    next="${{path:+$path }}${{COMP_WORDS[i]}}"
    case "$next" in
      {paths}) path="$next" ;;
    esac
  done
  case "$path" in
{cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _tooltrail tooltrail
"""


def run(shell: str) -> int:
    """Print the completion script for ``shell``."""
    from tooltrail.consumers.app.cli import build_parser

    script = bash_script(build_parser())
    print((_ZSH_PRELUDE if shell == "zsh" else "") + script, end="")
    return 0


def register(commands: Any) -> None:
    """``tooltrail completion``."""
    p = add(
        commands,
        "completion",
        "print a shell completion script (bash or zsh)",
        "Print a completion script for tooltrail's commands and options. bash: add "
        "'eval \"$(tooltrail completion bash)\"' to ~/.bashrc; zsh: add "
        "'eval \"$(tooltrail completion zsh)\"' to ~/.zshrc.",
    )
    p.add_argument("shell", choices=["bash", "zsh"], help="the shell")
    p.set_defaults(handler=lambda a: run(a.shell))
