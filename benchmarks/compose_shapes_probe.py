"""Probe behind docs/results.md "Composition on shapes (issue 12)": factor energies on held-out shape/colour combinations.

Not part of the test run. Trains, in one process on the `shapes` scenes (shape x colour, the
holdout or cross design), one conditional MNIST-style energy per factor (``--mode experts``) or
the two trained together as their sum (``--mode sumtrain``), optionally a jointly conditioned
energy on the concatenated one-hot factors and an unconditional one, then draws each held-out
combination from uniform noise with the core's Langevin sampler and judges the samples with a
small CNN classifier trained on every combination. Compositions (``--modes``): ``sum`` (E_shape +
E_colour), ``bayes*`` (factor energies minus their own marginals, -log p(factor | x) under each
expert, written with the algebra as ``c & ~(c1 | c2 | c3)``), ``cls`` (the two classifiers only).
Example: ``python benchmarks/compose_shapes_probe.py --iters 600 --mode sumtrain --nojoint 1 --modes sum``
"""
import argparse
import time
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
from energyflow_vision.data.shapes import ShapesSpec
from energyflow_vision.nets.mnist import MnistEnergy

from energyflow import Energy
from energyflow.buffers.replay import ReplayBuffer
from energyflow.regularizers import KLTerm, L2Energy, SpectralNorm
from energyflow.samplers.langevin import Langevin
from energyflow.training import ContrastiveDivergence

p = argparse.ArgumentParser()
p.add_argument("--design", default="holdout")
p.add_argument("--iters", type=int, default=300)
p.add_argument("--joint_iters", type=int, default=None)
p.add_argument("--filters", type=int, default=16)
p.add_argument("--reinit", type=float, default=0.2)
p.add_argument("--kl", type=float, default=0.0)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--step_size", type=float, default=10.0)
p.add_argument("--sample_steps", type=int, default=60)
p.add_argument("--divide", type=int, default=0)
p.add_argument("--mode", default="experts")  # experts | sumtrain
p.add_argument("--full", type=int, default=0)
p.add_argument("--n_eval", type=int, default=60)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--factors", default="shape,colour")
p.add_argument("--nojoint", type=int, default=0)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--train_size", type=int, default=3000)
p.add_argument("--tag", default=None, help="folder to save the factor energies' weights in")
p.add_argument("--modes", default="sum,bayes,bayes_s,bayes_c,cls")
p.add_argument("--uncond", type=int, default=0)
a = p.parse_args()
factors = tuple(a.factors.split(","))
gen = torch.Generator().manual_seed(a.seed)
ctx = types.SimpleNamespace(generator=gen)
T0 = time.time()

def data(labels, part="union", design=None):
    return ShapesSpec(factors=factors, design=design or a.design, labels=labels, part=part, train_size=a.train_size).build(ctx)

def make_sampler(steps): return Langevin(steps=steps, step_size=a.step_size, noise=0.005, grad_clip=0.01, clamp=(0.0, 1.0))

class SumOfExperts(Energy):
    def __init__(self, experts):
        super().__init__(); self.experts = nn.ModuleList(experts); self.context_keys = ("y",)
    def forward(self, x, y=None):
        return sum(e(x, y=y[:, k]) for k, e in enumerate(self.experts))

def train(energy, d, iters, labels_fn=lambda y: y, per_class=None):
    regs = [SpectralNorm(), L2Energy(weight=1.0)] + ([KLTerm(weight=a.kl)] if a.kl else [])
    nc = per_class
    buf = ReplayBuffer(d.sample_shape, capacity=10000, reinit_prob=a.reinit, per_class=nc is not None, num_classes=nc)
    cd = ContrastiveDivergence(energy, make_sampler(a.steps), buf, regs, lr=a.lr, betas=(0.0, 0.999))
    n = d.train.shape[0]
    for it in range(iters):
        idx = torch.randint(0, n, (a.batch,), generator=gen)
        y = labels_fn(d.train_labels[idx])
        cd.step(d.train[idx], y, generator=gen)
    return cd.energy

# classifier on all combinations
def train_classifier():
    d = ShapesSpec(factors=factors, design="all", labels="factors", train_size=3000).build(ctx)
    sc = d.scene
    ks = [len(v) for v in sc.values]
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * (d.train.shape[-1] // 4) ** 2, 128), nn.ReLU(), nn.Linear(128, sum(ks)))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for it in range(400):
        idx = torch.randint(0, d.train.shape[0], (64,), generator=gen)
        x = d.train[idx] + 0.03 * torch.randn(d.train[idx].shape, generator=gen)
        out = net(x.clamp(0,1)).split(ks, 1)
        loss = sum(F.cross_entropy(o, d.train_factors[idx, k]) for k, o in enumerate(out))
        opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    with torch.no_grad():
        out = net(d.test).split(ks, 1)
        acc = [float((o.argmax(1) == d.test_factors[:, k]).float().mean()) for k, o in enumerate(out)]
    print("classifier test acc", acc, flush=True)
    def judge(x):
        with torch.no_grad():
            return torch.stack([o.argmax(1) for o in net(x).split(ks, 1)], 1)
    return judge, sc

judge, scene = train_classifier()
print(f"[{time.time()-T0:.0f}s] classifier", flush=True)
dj = data("factors")
held = list(dj.held_out); seen = list(dj.trained)
print("held out", [scene.combination_name(c) for c in held])

def evaluate(name, energy_for_combo, combos, steps=None):
    res = {}
    for c in combos:
        e = energy_for_combo(c)
        terms = len(factors) if a.divide else 1
        s = Langevin(steps=steps or a.sample_steps, step_size=a.step_size / terms, noise=0.005, grad_clip=0.01, clamp=(0.0, 1.0))
        x0 = torch.rand(a.n_eval, *dj.sample_shape, generator=gen)
        x = s.run(e, x0, generator=gen).x.detach()
        pred = judge(x)
        target = torch.tensor(c)
        allright = (pred == target).all(1).float().mean()
        per = (pred == target).float().mean(0)
        res[scene.combination_name(c)] = (float(allright), [round(float(q), 2) for q in per])
    mean_all = sum(v[0] for v in res.values()) / len(res)
    print(f"[{time.time()-T0:.0f}s] {name}: all-right {mean_all:.3f}  {res}", flush=True)
    return mean_all, x

results = {}
experts = []
if a.mode == "experts":
    for k, f in enumerate(factors):
        part = "union" if (a.full or a.design != "cross") else f
        d = data(f, part)
        e = MnistEnergy(d.sample_shape, filters=a.filters, stem_filters=a.filters, num_classes=len(scene.values[k]))
        e = train(e, d, a.iters, per_class=len(scene.values[k]))
        experts.append(e)
        print(f"[{time.time()-T0:.0f}s] expert {f} trained", flush=True)
else:
    d = data("factors")  # union
    ex = [MnistEnergy(d.sample_shape, filters=a.filters, stem_filters=a.filters, num_classes=len(v)) for v in scene.values]
    regs = [SpectralNorm(), L2Energy(weight=1.0)] + ([KLTerm(weight=a.kl)] if a.kl else [])
    soe = SumOfExperts(ex)
    nc = len(scene.combinations)
    buf = ReplayBuffer(d.sample_shape, capacity=10000, reinit_prob=a.reinit, per_class=True, num_classes=nc)
    cd = ContrastiveDivergence(soe, make_sampler(a.steps), buf, regs, lr=a.lr)
    # one shared buffer (the per-class stores are built but not used): chains start from any combination
    for it in range(a.iters):
        idx = torch.randint(0, d.train.shape[0], (a.batch,), generator=gen)
        f_idx = d.train_factors[idx]
        cd.buffer.per_class = False
        cd.step(d.train[idx], f_idx, generator=gen)
    experts = list(cd.energy.experts)
    print(f"[{time.time()-T0:.0f}s] sum-trained experts", flush=True)

import os

if a.tag:
    os.makedirs(a.tag, exist_ok=True)
    torch.save([e.state_dict() for e in experts], os.path.join(a.tag, "experts.pt"))
def any_of(e, k):
    vals = range(len(scene.values[k]))
    out = None
    for v_ in vals:
        t = e.condition(y=torch.full((a.n_eval,), v_, dtype=torch.long))
        out = t if out is None else out | t
    return out
def bayes(c, which=(0, 1), base=None):
    parts = [e.condition(y=torch.full((a.n_eval,), c[k], dtype=torch.long)) for k, e in enumerate(experts)]
    out = None
    for k, q in enumerate(parts):
        term = (q & ~any_of(experts[k], k)) if k in which else q
        out = term if out is None else out & term
    if base is not None: out = out & base
    return out
def compose(c):
    return sum_cond(c)
def sum_cond(c):
    parts = [e.condition(y=torch.full((a.n_eval,), c[k], dtype=torch.long)) for k, e in enumerate(experts)]
    out = parts[0]
    for q in parts[1:]: out = out & q
    return out
modes = a.modes.split(",")
if "sum" in modes:
    evaluate("sum held-out", sum_cond, held); evaluate("sum seen", sum_cond, seen[:4])
if "bayes" in modes:
    evaluate("bayes(both cls + both marg) held-out", lambda c: bayes(c, (0, 1), base=None) & any_of(experts[0], 0) & any_of(experts[1], 1), held)
if "bayes_s" in modes:
    evaluate("shape expert + colour classifier held-out", lambda c: bayes(c, (1,)), held)
if "bayes_c" in modes:
    evaluate("colour expert + shape classifier held-out", lambda c: bayes(c, (0,)), held)
if "cls" in modes:
    evaluate("both classifiers only held-out", lambda c: bayes(c, (0, 1)), held)
    evaluate("both classifiers only seen", lambda c: bayes(c, (0, 1)), seen[:4])
if a.uncond:
    du = data("factors")
    eu = MnistEnergy(du.sample_shape, filters=a.filters, stem_filters=a.filters, num_classes=None)
    eu = train(eu, du, a.iters, labels_fn=lambda y: None, per_class=None)
    print(f"[{time.time()-T0:.0f}s] uncond trained", flush=True)
    evaluate("uncond + both classifiers held-out", lambda c: bayes(c, (0, 1), base=eu), held)
    evaluate("uncond + both classifiers seen", lambda c: bayes(c, (0, 1), base=eu), seen[:4])
if not a.nojoint:
    jit = a.joint_iters or a.iters * len(factors)
    e = MnistEnergy(dj.sample_shape, filters=a.filters, stem_filters=a.filters, num_classes=dj.num_classes)
    e = train(e, dj, jit, per_class=None)
    print(f"[{time.time()-T0:.0f}s] joint trained", flush=True)
    def joint(c):
        y = scene.encode(torch.tensor([c] * a.n_eval), "factors")
        return e.condition(y=y)
    r_joint, xj = evaluate("joint held-out", joint, held)
    evaluate("joint seen", joint, seen[:4])
print(f"TOTAL {time.time()-T0:.0f}s", vars(a))
