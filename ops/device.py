"""Where torch runs: one rule for every trainer and scorer."""

from __future__ import annotations

DEVICE_CHOICES = ("cpu", "cuda", "auto")


def validate_device(device: str) -> str:
    """Accept ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; raise ``ValueError`` otherwise."""
    d = str(device).strip().lower()
    if d in DEVICE_CHOICES or (d.startswith("cuda:") and d[5:].isdigit()):
        return d
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")


def resolve_device(device: str):
    """``cpu`` / ``cuda`` / ``cuda:N`` / ``auto`` -> ``torch.device``.

    ``auto`` picks CUDA when available, else CPU; asking for CUDA on a machine without it is a
    clear ``RuntimeError`` (never a silent fall back to the CPU). Never defaults to CUDA.
    """
    import torch

    d = validate_device(device)
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={device!r} was asked for but torch.cuda.is_available() is False"
            )
        if ":" in d and int(d[5:]) >= torch.cuda.device_count():
            raise RuntimeError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    return torch.device(d)
