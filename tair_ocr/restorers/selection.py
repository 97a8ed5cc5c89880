"""``--restorer auto``: pick the best restorer that can run here.

Candidates are tried in :data:`PRIORITY` order; the first that is registered and
available wins. Restorers listed in :data:`NEEDS_CUDA` (diffusion models, far too
slow on a CPU for a page) are only picked when a CUDA device is present, even if
their availability check passes without one. When none qualifies the pick is
``none`` (no restoration). Restorers from third-party plugins are never picked
automatically: name them with ``--restorer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tair_ocr.components import Restorer, checked_availability

if TYPE_CHECKING:
    from tair_ocr.plugins import Registry

__all__ = ["NEEDS_CUDA", "PRIORITY", "choose_restorer"]

#: Best first.
PRIORITY: tuple[str, ...] = ("terediff", "cleaner", "classical")
#: Restorers that ``auto`` only picks with a CUDA device.
NEEDS_CUDA: frozenset[str] = frozenset({"terediff"})


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def choose_restorer(registry: Registry[Restorer]) -> tuple[Restorer, str]:
    """The restorer ``--restorer auto`` uses, and a sentence saying why: which
    better candidates were skipped and for what reason."""
    skipped: list[str] = []
    for name in PRIORITY:
        if name not in registry:
            skipped.append(f"{name}: not installed")
            continue
        restorer = registry.get(name)
        availability = checked_availability(restorer)
        if not availability.ok:
            skipped.append(f"{name}: {availability.reason or 'not available'}")
            continue
        if name in NEEDS_CUDA and not _cuda_available():
            skipped.append(f"{name}: no CUDA device")
            continue
        return restorer, _reason(f"{name} is available", skipped)
    return _identity(registry), _reason("no restorer is available, pages are not restored", skipped)


def _reason(picked: str, skipped: list[str]) -> str:
    return f"{picked} (skipped {'; '.join(skipped)})" if skipped else picked


def _identity(registry: Registry[Restorer]) -> Restorer:
    if "none" in registry:
        return registry.get("none")
    # "none" is a built-in, but a user may have blocked its plugin.
    from tair_ocr.restorers.identity import IdentityRestorer

    return IdentityRestorer()
