"""How ``firegw`` subcommands answer a refusal: sentences on stderr and exit status 2, never a traceback.

A command raises one of the exceptions it names as refusals (bad input, an unknown id, a transition the
closed loop does not allow) with a message that says what was wrong and what is allowed. With ``split``,
a message listing several problems joined by "; " is printed one problem per line. A hazard store that
cannot be reached is a refusal too, named as such.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

Command = Callable[[argparse.Namespace], int]


def reported(*refusals: type[Exception], split: bool = False) -> Callable[[Command], Command]:
    """Decorate a subcommand so that ``refusals`` (and a store out of reach) print as ``error:`` lines."""

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except refusals as exc:
                message = str(exc.args[0] if exc.args else exc)
                for line in message.split("; ") if split else [message]:
                    print(f"error: {line}", file=sys.stderr)
                return 2
            except SQLAlchemyError as exc:
                print(
                    f"error: the hazard store cannot be used: {exc.__class__.__name__}: {exc}",
                    file=sys.stderr,
                )
                return 2

        return run

    return decorate
