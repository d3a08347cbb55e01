"""nano-rlhf: SFT -> reward model -> PPO, from scratch.

A script of this project imports the package first thing (the train_*.py scripts, bench/, lessons/experiments/;
`python -m nano_rlhf.X` does it by itself). Then a Ctrl-C that lands while torch and matplotlib are still importing
ends the run with one line and exit code 130, even where a library's import code would catch the KeyboardInterrupt
and carry on: nothing has been written yet, so there is nothing to clean up. common.run_cli (and chat, coursework)
hand Ctrl-C back to Python's KeyboardInterrupt once their work starts, so that a half-written temp file is removed.
Imported anywhere else (pytest, a notebook) the package changes nothing.
"""
import os
import signal
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _interrupted_while_starting(signum, frame):
    print(flush=True)                          # end the line the terminal's ^C is on
    print("interrupted", file=sys.stderr, flush=True)
    os._exit(130)


def interrupts_raise():
    """From here on Ctrl-C raises KeyboardInterrupt again (Python's default), for the caller to handle."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_script = sys.argv[:1] == ["-m"] or (sys.argv[:1] != [""] and os.path.abspath(sys.argv[0]).startswith(_REPO + os.sep))
if _script and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
