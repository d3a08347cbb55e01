"""nano-rlhf: SFT -> reward model -> PPO, from scratch.

Importing the package first thing (the train_*.py scripts do; `python -m nano_rlhf.X` does by itself) makes a
Ctrl-C that lands while torch and matplotlib are still importing one line, not a traceback from inside importlib;
later Ctrl-Cs are handled by common.run_cli. The exit code stays 130, as for any interrupted program.
"""
import sys


def _interrupted_in_one_line(kind, value, tb):
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    else:
        sys.__excepthook__(kind, value, tb)


sys.excepthook = _interrupted_in_one_line
