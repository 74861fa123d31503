"""Every label-cleaning method, registered: import this module to get a complete ``METHODS``.

The registry itself is the leaf :mod:`ops.labels.registry`; each method module registers its
methods with ``@register`` on import, and this is the one place that imports them all:

- ``cleanlab_oof``, ``cleanlab_trusted``: :mod:`ops.labels.cleanlab_methods`
- ``rst`` (experimental): :mod:`ops.labels.rst`
- ``vri`` (experimental): :mod:`ops.labels.vri`

MW-Net (:mod:`ops.labels.mwnet`) is a benchmark baseline, not a registered method.
"""

from __future__ import annotations

from ops.labels import cleanlab_methods, rst, vri  # noqa: F401  (imported to register)
from ops.labels.registry import (
    METHODS,
    MethodContext,
    MethodFn,
    MethodResult,
    get_method,
    register,
)

__all__ = ["METHODS", "MethodContext", "MethodFn", "MethodResult", "get_method", "register"]
