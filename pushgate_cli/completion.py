"""`pushgate completion SHELL`: the script that makes a shell complete pushgate's commands."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PUSHGATE_COMPLETE"  # click's protocol: the script calls pushgate with it set


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash: eval "$(pushgate completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(pushgate completion zsh)"    (in ~/.zshrc)
    fish: pushgate completion fish > ~/.config/fish/completions/pushgate.fish
    """
    root = ctx.find_root()
    completer = get_completion_class(shell)
    assert completer is not None  # click ships all three SHELLS
    click.echo(completer(root.command, {}, "pushgate", COMPLETE_VAR).source())
