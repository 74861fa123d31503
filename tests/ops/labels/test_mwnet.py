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
