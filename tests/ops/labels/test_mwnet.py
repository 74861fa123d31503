"""MW-Net-style scalar meta-weighting: the look-ahead step trains the weight net."""

import torch
from torch import nn

from ops.labels.backbones import FeatNet
from ops.labels.mwnet import WeightNet, mwnet_meta_step


def test_lookahead_step_changes_meta_params():
    torch.manual_seed(42)
    net = FeatNet(nn.Sequential(nn.Linear(6, 8), nn.ReLU()), nn.Linear(8, 3))
    wnet = WeightNet(16)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    xm, ym = torch.randn(16, 6), torch.randint(0, 3, (16,))
    before = {k: p.detach().clone() for k, p in wnet.named_parameters()}
    net_before = {k: p.detach().clone() for k, p in net.named_parameters()}
    opt = torch.optim.Adam(wnet.parameters(), lr=1e-2)
    meta = mwnet_meta_step(net, wnet, x, y, xm, ym, lr=0.5)
    assert meta > 0
    for k, p in wnet.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, k
    opt.step()
    assert all(not torch.equal(p.detach(), before[k]) for k, p in wnet.named_parameters())
    # the virtual step never touches the classifier's own parameters
    assert all(torch.equal(p.detach(), net_before[k]) for k, p in net.named_parameters())
    w = wnet(torch.rand(5))
    assert ((w > 0) & (w < 1)).all()


def _bn_net():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
    return FeatNet(body, nn.Linear(8, 3)).train()


def test_lookahead_leaves_batchnorm_running_stats_alone():
    # issue 12: the virtual pass (and the trusted batch through the look-ahead weights) used to
    # update the real network's BatchNorm running statistics
    net = _bn_net()
    before = {k: b.clone() for k, b in net.named_buffers()}
    x, y = torch.randn(32, 6) * 3 + 1, torch.randint(0, 3, (32,))
    xm, ym = torch.randn(16, 6) * 3 + 1, torch.randint(0, 3, (16,))
    mwnet_meta_step(net, WeightNet(16), x, y, xm, ym, lr=0.5)
    for k, b in net.named_buffers():
        assert torch.equal(b, before[k]), k
    net(x)  # a real forward in train mode does update them (the check can fail)
    assert not torch.equal(
        *[b for k, b in net.named_buffers() if k.endswith("running_mean")],
        before[next(k for k in before if k.endswith("running_mean"))],
    )


class _Scaled(nn.Module):
    def __init__(self, inner, scale):
        super().__init__()
        self.inner, self.scale = inner, scale

    def forward(self, loss):
        return self.scale * self.inner(loss)


def test_virtual_step_normalises_weights_like_the_real_step():
    # issue 12: the real step uses w / sum(w); the virtual step used mean(w * ce), so the
    # meta-gradient depended on the overall scale of w, which the real step ignores
    torch.manual_seed(1)
    net = FeatNet(nn.Sequential(nn.Linear(6, 8), nn.ReLU()), nn.Linear(8, 3))
    wnet = WeightNet(16)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    xm, ym = torch.randn(16, 6), torch.randint(0, 3, (16,))
    m1 = mwnet_meta_step(net, _Scaled(wnet, 1.0), x, y, xm, ym, lr=0.5)
    m2 = mwnet_meta_step(net, _Scaled(wnet, 0.25), x, y, xm, ym, lr=0.5)
    assert abs(m1 - m2) < 1e-6, (m1, m2)
