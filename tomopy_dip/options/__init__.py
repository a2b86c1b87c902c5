"""The keywords of the reconstruction methods: one schema with defaults, checks and help.

:data:`KEYWORDS` is the single source of every keyword that all methods share: its default,
its validation, its one-line help and how the command line reads it. A method's own keywords
(e.g. aSeqDIP's ``inner_steps``) are :class:`Keyword` records declared on the method
(:attr:`tomopy_dip.methods.Method.keywords`), and a method's different defaults live only on the
method (:attr:`~tomopy_dip.methods.Method.defaults`). The :class:`Options` record, the command
line's flags and the keyword tables of the documentation are generated from, or checked
against, these records.

Every public entry point funnels its keywords through :func:`parse_options`, which rejects
unknown names and bad values with a :class:`TypeError` or :class:`ValueError` that names the
argument, before any long work starts.
"""

from __future__ import annotations

from tomopy_dip.options.checks import (MAX_LR, RULES, bool_check, callable_check, choice_check, declare_rules,
                                       float_check, int_check, optional_check, yes_no)
from tomopy_dip.options.schema import (GEOMETRY_KEYWORDS, KEYWORDS, SHARED_KEYWORDS, Keyword, Options, parse_options,
                                       with_changes)

__all__ = ["Keyword", "KEYWORDS", "Options", "parse_options", "with_changes", "SHARED_KEYWORDS",
           "GEOMETRY_KEYWORDS", "int_check", "float_check", "choice_check", "bool_check", "optional_check", "callable_check",
           "declare_rules"]
