"""TeReDiff's noise schedule and sampler timesteps, on diffusers' ``DDPMScheduler``.

The published sampler is DiffBIR's ``SpacedSampler``: guided-diffusion respacing of
the 1000 training steps to 50, i.e. ``round(linspace(0, 999, 50))`` taken in
descending order, and a DDPM ancestral step to the *next selected* timestep with the
posterior ("fixed small") variance. ``DDPMScheduler`` computes exactly that when it
is given the timestep list explicitly; with ``num_inference_steps`` alone it would
step back a fixed 20 and pick different timesteps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from diffusers import DDPMScheduler

from tair_ocr.models.configs import SCHEDULER_CONFIG

__all__ = ["make_scheduler", "reference_alphas_cumprod", "respaced_timesteps"]


def respaced_timesteps(steps: int, train_steps: int = 1000) -> list[int]:
    """Descending timesteps of the respaced sampler: ``round(linspace(0, T−1, steps))``.

    For 50 steps: 999, 979, 958, 938, …, 41, 20, 0 (strides of 20 or 21).
    """
    if not 1 <= steps <= train_steps:
        raise ValueError(f"steps must be in 1..{train_steps}, got {steps}")
    if steps == 1:
        return [train_steps - 1]
    return [int(t) for t in np.linspace(0, train_steps - 1, steps).round()[::-1]]


def make_scheduler(config: dict[str, Any] | None = None) -> DDPMScheduler:
    """A ``DDPMScheduler`` with TeReDiff's schedule (``config`` overrides keys)."""
    return DDPMScheduler.from_config({**SCHEDULER_CONFIG, **(config or {})})


def reference_alphas_cumprod(train_steps: int = 1000) -> np.ndarray:
    """ᾱ of the published schedule in float64 (ldm "linear" betas, then
    zero-terminal-SNR rescale), for checking the scheduler."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, train_steps, dtype=np.float64) ** 2
    sqrt_ab = np.sqrt(np.cumprod(1.0 - betas))
    first, last = sqrt_ab[0], sqrt_ab[-1]
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    return sqrt_ab**2
