"""What a slash command says: `push`, `plan`, `status`, `cancel` or `help`, with the flags of
`pushgate push` (the same request body as POST /v1/pushes)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from typing import NoReturn

from worker.jobs.submit import PushRequest
from worker.policies import AttestationPolicy

VERBS = ("push", "plan", "status", "cancel", "help")
HELP = """\
push SOURCE --app APP [--to TARGET]... [--target IMAGE] [--tag TAG] [--extra-tag TAG]...
     [--platform OS/ARCH]... [--attestations strip|keep|fail]   queue a push
plan SOURCE --app APP [same flags]   what the push would do, writing nothing
status JOB_ID                        where a push is
cancel JOB_ID                        stop a push
help                                 this text"""


class CommandError(Exception):
    """The command's text does not parse; the message says how to write it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CommandError(message)


def _push_parser() -> _Parser:
    parser = _Parser(prog="push", add_help=False, exit_on_error=False)
    parser.add_argument("source")
    parser.add_argument("--app", required=True)
    parser.add_argument("--to", action="append", default=[])
    parser.add_argument("--target", dest="image")  # the API's field name
    parser.add_argument("--tag")
    parser.add_argument("--extra-tag", action="append", default=[])
    parser.add_argument("--platform", action="append", default=[])
    parser.add_argument(
        "--attestations",
        choices=[p.value for p in AttestationPolicy],
        default=AttestationPolicy.STRIP.value,
    )
    return parser


@dataclass(frozen=True)
class Command:
    """A parsed command: its verb, and the push request or job id it is about."""

    verb: str
    push: PushRequest | None = None
    job_id: str | None = None


def parse_command(text: str) -> Command:
    """The command in a slash command's text; CommandError when it does not parse."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CommandError(f"cannot split the command: {exc}") from None
    if not words or words[0] == "help":
        return Command("help")
    verb, rest = words[0].lower(), words[1:]
    if verb not in VERBS:
        raise CommandError(f"unknown command {words[0]!r}; one of {', '.join(VERBS)}")
    if verb in ("status", "cancel"):
        if len(rest) != 1:
            raise CommandError(f"{verb} takes one job id")
        return Command(verb, job_id=rest[0])
    try:
        args = _push_parser().parse_args(rest)
    except argparse.ArgumentError as exc:
        raise CommandError(str(exc)) from None
    asked = {"source": args.source, "app_slug": args.app, "image": args.image, "tag": args.tag}
    asked.update(extra_tags=args.extra_tag, targets=args.to)
    push = PushRequest.of({**asked, "attestations": args.attestations, "platforms": args.platform})
    return Command(verb, push=push)
