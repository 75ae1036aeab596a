"""Command-line entry points: a user error prints its message and exits 1, without a traceback.

Every ``tools/*.py`` ends with::

    if __name__ == '__main__':
        run_cli(main)

Errors of the types in :data:`USER_ERRORS` (what our checks raise for bad input: a refused
option, a missing file or folder, a budget that would be exceeded, a config key that is absent)
are printed as ``<tool>: error: <message>`` on stderr, followed by how to see the traceback;
the exit status is 1. Any other exception (a bug) keeps Python's full traceback. ``--debug``
anywhere on the command line (it is removed before the tool parses its arguments) or the
environment variable ``MMKD_DEBUG=1`` re-raises user errors too, with their traceback.
"""
import os
import os.path as osp
import sys
from typing import Callable, List, Optional

#: exceptions that carry a message meant for the user (our checks raise these)
USER_ERRORS = (ValueError, KeyError, OSError, RuntimeError)
#: ... except these subclasses, which come from bugs
NOT_USER_ERRORS = (RecursionError, NotImplementedError, UnicodeError)
DEBUG_FLAG = '--debug'
DEBUG_ENV = 'MMKD_DEBUG'


def debug_requested(argv: List[str]) -> bool:
    """``--debug`` in ``argv`` or ``MMKD_DEBUG`` set to anything but ``''``/``0``."""
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, '') not in ('', '0')


def error_message(err: BaseException) -> str:
    """The exception's own text (a ``KeyError``'s without the quotes ``str()`` adds)."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err) or type(err).__name__


def run_cli(main: Callable, *args, cleanup: Optional[Callable[[], None]] = None, **kwargs):
    """Call ``main(*args, **kwargs)`` as a tool's entry point (see the module docstring).

    ``sys.argv`` loses every ``--debug`` first, so ``main`` parses the rest as usual;
    ``cleanup`` (e.g. ending a process group) runs afterwards in every case. What ``main``
    returns (a runner, a result dict) is dropped before ``cleanup``, so that cleanup can free it:
    a runner still alive when gloo's process group ends is freed during interpreter shutdown,
    where gloo's worker thread can abort the process."""
    debug = debug_requested(sys.argv[1:])
    sys.argv[1:] = [a for a in sys.argv[1:] if a != DEBUG_FLAG]
    try:
        main(*args, **kwargs)
    except USER_ERRORS as err:
        if debug or isinstance(err, NOT_USER_ERRORS):
            raise
        prog = osp.basename(sys.argv[0]) or 'mmkd-green'
        print(f'{prog}: error: {error_message(err)}\n'
              f'(the traceback: add {DEBUG_FLAG} or set {DEBUG_ENV}=1)', file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if cleanup is not None:
            cleanup()
