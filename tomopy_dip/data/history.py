"""The records of an iteration history and their order: the loss, one record per loss term, the
seconds.

The loss terms are not listed here: each :class:`~tomopy_dip.fitting.losses.LossTerm` declares
its own record when it is defined (:func:`declare_term`), so that a new term is recorded by
every fit and written to every history file without a list to edit. The fitting loop records
:func:`history_columns` and :func:`tomopy_dip.data.files.write_history_csv` writes them in this
order.
"""

from __future__ import annotations

__all__ = ["LOSS", "SECONDS", "declare_term", "history_terms", "history_columns"]

#: The record of the loss (the weighted sum of the terms), first in a history.
LOSS = "loss"
#: The record of the seconds since the start of the fit, last in a history.
SECONDS = "seconds"

#: The records of the loss terms declared so far, in the order of their declaration.
_TERMS: list[str] = []


def declare_term(name: str) -> None:
    """Record the loss term ``name`` in every history from now on (declaring it again adds
    nothing).

    Raises
    ------
    ValueError
        ``name`` is not a string, or is one of the records that are not terms (:data:`LOSS`,
        :data:`SECONDS`).
    """
    if not isinstance(name, str) or name in (LOSS, SECONDS):
        raise ValueError(f"a loss term's name must be a string other than {LOSS!r} and {SECONDS!r}, "
                         f"got {name!r}")
    if name not in _TERMS:
        _TERMS.append(name)


def history_terms() -> tuple[str, ...]:
    """The loss terms every history records (zeros where a fit's method has no such term), in
    the order they were declared.

    Examples
    --------
    >>> import tomopy_dip.fitting.losses  # declares the package's terms
    >>> history_terms()[:3]
    ('data', 'tv', 'ae')
    """
    return tuple(_TERMS)


def history_columns() -> tuple[str, ...]:
    """The records of a history in order: :data:`LOSS`, the terms (:func:`history_terms`),
    :data:`SECONDS`.

    Examples
    --------
    >>> import tomopy_dip.fitting.losses  # declares the package's terms
    >>> history_columns()
    ('loss', 'data', 'tv', 'ae', 'seconds')
    """
    return (LOSS, *_TERMS, SECONDS)
