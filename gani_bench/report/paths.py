"""Keep absolute machine paths out of reports.

A report is mailed, attached to CI runs and committed (``reports/demo``); absolute paths in it
leak a home folder and user name and are meaningless elsewhere. Text that can carry a path
(run folders, unavailable-metric reasons with cache locations, skip reasons, notes, configs)
goes through :func:`scrub` before it is written: the run folders become their names, the
gani-bench cache ``$GANI_BENCH_HOME``, the home folder ``~``, and any other absolute path is
cut to ``.../<file name>``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Sequence, Tuple

# an absolute POSIX path: a "/" that does not follow a word character, ".", ":", "/" or "<"
# (so URLs, fractions, "</td>" and relative paths are left alone), then at least one "name/"
_ABS_PATH = re.compile(r"(?<![\w.:/<~$])/(?:[\w.+@-]+/)+([\w.+@-]*)")


def _replacements(run_dirs: Sequence[Path]) -> List[Tuple[str, str]]:
    pairs: List[Tuple[str, str]] = []
    for d in run_dirs:
        pairs.append((str(Path(d).resolve()), Path(d).resolve().name))
    home_env = os.environ.get("GANI_BENCH_HOME")
    cache = Path(home_env).expanduser() if home_env else Path.home() / ".cache" / "gani_bench"
    pairs.append((str(cache.resolve()), "$GANI_BENCH_HOME"))
    pairs.append((str(cache), "$GANI_BENCH_HOME"))
    pairs.append((str(Path.cwd().resolve()), "."))
    pairs.append((str(Path.home()), "~"))
    # longest first, so a run folder inside the home folder keeps its own name
    return sorted({p for p in pairs if p[0] not in ("", "/")}, key=lambda p: -len(p[0]))


def scrub(text: str, run_dirs: Sequence[Path] = ()) -> str:
    """``text`` with every absolute machine path replaced (see the module docstring)."""
    for old, new in _replacements(run_dirs):
        text = text.replace(old, new)
    return _ABS_PATH.sub(lambda m: ".../" + m.group(1), text)
