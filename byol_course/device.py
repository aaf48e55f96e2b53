"""Chapter 5 — where a run computes: the device, its number format, and a line describing the machine.

`Precision` is made once, before the training loop, and the step only calls it: autocast to
bf16 on GPUs that have it natively, fp16 with loss scaling on older GPUs such as Colab's T4,
float32 on CPUs without native bf16. In float32 it is a no-op object (nanoGPT's
`GradScaler(enabled=...)` idiom), so the step has no branch on the precision.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path
from typing import ContextManager

import torch

__all__ = ["PRECISIONS", "resolve_device", "autocast_dtype", "cpu_has_native_bf16", "Precision", "hardware"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; a clear error for an absent device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps was asked for but this machine has no Apple GPU; use --device cpu or auto.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"Unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.") from None


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for a device, or None for float32.

    auto: bf16 on GPUs of compute capability ≥ 8.0; fp16 (with GradScaler) on older GPUs such
    as the T4, whose bf16 is emulated and slow; float32 on CPU unless the CPU has native bf16
    (measured on a 2-core AVX-512 Xeon without it: bf16 autocast made the step slower).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if major >= 8 else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def cpu_has_native_bf16() -> bool:
    """True where the CPU advertises AVX512-BF16 or AMX-BF16 (Linux); False elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Precision:
    """Autocast and loss scaling for one device: `with precision.autocast(): ...`, then `precision.backward(loss, opt)`."""

    def __init__(self, device: torch.device, precision: str = "auto") -> None:
        self.device_type = device.type
        self.dtype = autocast_dtype(device, precision)  # None: float32
        # fp16's small range needs the loss scaled up before backward; disabled, the scaler is a no-op
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)

    def __repr__(self) -> str:
        scaled = " with loss scaling" if self.scaler.is_enabled() else ""
        return f"Precision({self.device_type}: {self.name}{scaled})"

    @property
    def name(self) -> str:
        """'fp32', 'bf16' or 'fp16'."""
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> ContextManager:
        """The forward passes' number format (nothing changes in float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and one optimiser step; under fp16 the loss is scaled and the step skipped on overflow."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def hardware() -> str:
    """A short description of the machine: GPU name or CPU model and thread count."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{cpu}, {threads} thread{'' if threads == 1 else 's'}"
