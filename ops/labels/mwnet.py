"""MW-Net-style scalar meta-weighting with the same one-step look-ahead as VRI
(docs/labels.md §7).

The "vector vs scalar" ablation: a weight net ``w = sigmoid(MLP(loss_i))`` (MW-Net's input is the
per-sample loss, 1-100-1) weights each noisy sample's CE; its parameters are learned on the trusted
set through ``theta' = theta - lr * grad_theta mean(w * CE)``, ``L_meta = CE(f_theta'(x_meta))``.
The actual step uses the updated weights, normalised to sum 1 over the batch (as MW-Net).
Experimental; benchmark baseline only (not a registered cleaning method).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ops.labels.backbones import BackboneConfig, FeatNet, Progress, Source
from ops.labels.training import (
    Batch,
    EpochCallback,
    lookahead,
    make_sgd,
    meta_training,
    set_lr,
    set_meta_grads,
    sgd_step,
    virtual_state,
)


@dataclass(frozen=True)
class MWNetConfig:
    """``hidden`` width of the weight net (MW-Net: 100); Adam ``meta_lr``/``meta_weight_decay``."""

    hidden: int = 100
    meta_lr: float = 1e-3
    meta_weight_decay: float = 5e-4
    meta_batch: int | None = None

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.meta_lr <= 0 or self.meta_weight_decay < 0:
            raise ValueError(f"need hidden >= 1, meta_lr > 0, meta_weight_decay >= 0; got {self}")


class WeightNet(nn.Module):
    """Per-sample loss ``(B,)`` -> weight in (0, 1) ``(B,)``."""

    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, loss: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(loss[:, None])).squeeze(1)


def mwnet_meta_step(
    net: nn.Module,
    wnet: WeightNet,
    xb: torch.Tensor,
    yb: torch.Tensor,
    xm: torch.Tensor,
    ym: torch.Tensor,
    lr: float,
) -> float:
    """Virtual step + meta loss; writes the meta-gradient into ``wnet``'s ``.grad``.

    Returns the meta CE."""
    params = virtual_state(net)  # cloned buffers: the real BN statistics stay put
    _, logits = functional_call(net, params, (xb,))
    ce = F.cross_entropy(logits, yb, reduction="none")
    w = wnet(ce.detach())
    w = w / w.sum().clamp_min(1e-8)  # normalised as in the real step
    new = lookahead(params, (w * ce).sum(), lr)
    _, lm = functional_call(net, new, (xm,))
    meta = F.cross_entropy(lm, ym)
    set_meta_grads(meta, wnet)
    return float(meta.detach())


def train_mwnet(
    source: Source,
    noisy_idx: np.ndarray,
    noisy_labels: np.ndarray,
    meta_idx: np.ndarray,
    meta_labels: np.ndarray,
    n_classes: int,
    cfg: BackboneConfig,
    mcfg: MWNetConfig | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    epoch_callback: EpochCallback | None = None,
) -> tuple[FeatNet, WeightNet]:
    """Same signature and recipe as :func:`ops.labels.vri.train_vri`, scalar weights instead of
    the rectifying vector v."""
    mcfg = mcfg or MWNetConfig()
    with meta_training(
        source,
        cfg,
        noisy_idx,
        noisy_labels,
        meta_idx,
        meta_labels,
        n_classes,
        seed,
        mcfg.meta_batch,
    ) as (net, loop, device):
        wnet = WeightNet(mcfg.hidden).to(device)
        opt = make_sgd(net.parameters(), cfg)
        meta_opt = torch.optim.Adam(
            wnet.parameters(), lr=mcfg.meta_lr, weight_decay=mcfg.meta_weight_decay
        )

        def step(b: Batch) -> dict[str, float | torch.Tensor]:
            with loop.autocast():
                meta_opt.zero_grad(set_to_none=True)
                meta = mwnet_meta_step(net, wnet, b.x, b.y, b.xm, b.ym, b.lr)
                meta_opt.step()
                set_lr(opt, b.lr)
                _, logits = net(b.x)
                ce = F.cross_entropy(logits.float(), b.y, reduction="none")
                with torch.no_grad():
                    w = wnet(ce.detach())
                    w = w / w.sum().clamp_min(1e-8)
                loss = (w * ce).sum()
            sgd_step(opt, loss)
            return {"ce": ce.mean().detach(), "meta_ce": meta}

        loop.fit([net], step, name="mwnet ", progress=progress, epoch_callback=epoch_callback)
    net.eval()
    return net, wnet
