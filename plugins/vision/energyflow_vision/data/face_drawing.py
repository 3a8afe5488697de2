"""`FaceDrawing`: how the synthetic ``faces`` dataset draws a cartoon face from its attribute vector.

A face is a few flat shapes painted over each other (background, shirt, hair behind the head, neck,
face oval, beard shadow, eyes, brows, mouth, wrinkles, hair cap, glasses), computed at
``SUPERSAMPLE`` times the image side and averaged down (anti-aliasing), batched in torch. What each
attribute draws:

* ``Smiling``: an open mouth whose corners turn up (dark red, a strip of teeth); else a flat line.
* ``Male``: short hair (a cap with sideburns), a wider, squarer jaw and a grey beard shadow; else long
  hair falling beside the face to the shoulders.
* ``Young``: smooth skin and plain hair; else grey streaks through the hair, forehead lines and
  smile-line folds, a paler skin.
* ``Eyeglasses``: two dark rings round the eyes, a bridge and the temple arms.
* ``Black_Hair`` / ``Blond_Hair``: the hair colour (neither: brown).
* ``Wavy_Hair``: a sinusoidal outer hair edge and light/dark wave bands; else a straight edge.

`Nuisance` holds what varies per image besides the attributes: face position and scale, skin tone,
background grey level, shirt colour, hair shade and the phase of waves and streaks, drawn from a
``torch.Generator``; the same attributes with the same nuisance give the same picture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from attrs import fields, frozen

#: Every attribute a face is drawn from, in the column order `FaceDrawing.render` reads.
ATTRIBUTES = ("Smiling", "Male", "Young", "Eyeglasses", "Black_Hair", "Blond_Hair", "Wavy_Hair")
#: Subpixels per pixel side for anti-aliasing.
SUPERSAMPLE = 4
#: Supersampled pixels rendered at once (bounds the memory of one chunk).
_CHUNK_PIXELS = 1 << 22

_LIGHT_SKIN = torch.tensor([0.96, 0.80, 0.68])
_DARK_SKIN = torch.tensor([0.52, 0.35, 0.24])
_PALE = torch.tensor([0.90, 0.88, 0.87])
_HAIR = {"black": torch.tensor([0.07, 0.06, 0.06]), "blond": torch.tensor([0.93, 0.80, 0.42]),
         "brown": torch.tensor([0.46, 0.28, 0.13])}
_GREY_HAIR = torch.tensor([0.80, 0.80, 0.82])
_LIP = torch.tensor([0.32, 0.04, 0.07])
_LINE_LIP = torch.tensor([0.58, 0.22, 0.22])
_FRAME = torch.tensor([0.06, 0.06, 0.08])
_WHITE = torch.tensor([0.97, 0.97, 0.97])
_IRIS = torch.tensor([0.12, 0.08, 0.06])
_STUBBLE = torch.tensor([0.35, 0.36, 0.40])
#: The layers a face is painted in, by index: a picture is a map of these, coloured by `FaceDrawing._colour`.
_L = {name: i for i, name in enumerate(("background", "shirt", "hair", "band", "streak", "neck", "skin", "stubble",
                                        "nose", "wrinkle", "white", "iris", "brow", "lip", "line_lip", "frame"))}


@frozen(kw_only=True)
class Nuisance:
    """Per-image variation besides the attributes, each a tensor with one row per image.

    Attributes:
        centre: ``(N, 2)`` face centre (x, y) as a share of the side, about (0.5, 0.48).
        scale: ``(N,)`` face scale, about 1.
        skin: ``(N, 3)`` skin colour, from light to dark.
        background: ``(N,)`` background grey level.
        shirt: ``(N, 3)`` shirt colour.
        hair_shade: ``(N,)`` brightness factor of the hair colour.
        phase: ``(N, 2)`` phases (radians) of the hair waves and of the grey streaks.
    """

    centre: torch.Tensor
    scale: torch.Tensor
    skin: torch.Tensor
    background: torch.Tensor
    shirt: torch.Tensor
    hair_shade: torch.Tensor
    phase: torch.Tensor

    @classmethod
    def draw(cls, n: int, generator: torch.Generator, jitter: float = 0.03) -> Nuisance:
        """``n`` images' variation: position jitter ``jitter`` (share of the side), scale twice as much."""
        u = torch.rand(n, 11, generator=generator)
        tone = u[:, 2:3] ** 1.5  # more light than dark skins, all of them present
        return cls(centre=torch.stack([0.5 + (2 * u[:, 0] - 1) * jitter, 0.48 + (2 * u[:, 1] - 1) * jitter], 1),
                   scale=1 + (2 * u[:, 3] - 1) * 2 * jitter,
                   skin=_LIGHT_SKIN + tone * (_DARK_SKIN - _LIGHT_SKIN),
                   background=0.45 + 0.45 * u[:, 4],
                   shirt=0.15 + 0.7 * u[:, 5:8],
                   hair_shade=0.85 + 0.3 * u[:, 8],
                   phase=2 * math.pi * u[:, 9:11])

    def __getitem__(self, rows: slice) -> Nuisance:
        return Nuisance(**{a.name: getattr(self, a.name)[rows] for a in fields(Nuisance)})


def _line(dist: torch.Tensor, half: float) -> torch.Tensor:
    """Inside a stroke of half-width ``half`` around the zero set of ``dist``."""
    return dist.abs() <= half


@frozen(kw_only=True)
class FaceDrawing:
    """Draws faces ``(N, 3, size, size)`` from attribute rows in `ATTRIBUTES` order and a `Nuisance`."""

    size: int = 32

    def render(self, attributes: torch.Tensor, nuisance: Nuisance) -> torch.Tensor:
        """``uint8`` faces of the 0/1 attribute rows ``(N, len(ATTRIBUTES))`` with the variation ``nuisance``
        (N rows). Where Black_Hair and Blond_Hair are both 1 the hair is black."""
        if attributes.dim() != 2 or attributes.shape[1] != len(ATTRIBUTES):
            raise ValueError(f"FaceDrawing.render: expected attributes (N, {len(ATTRIBUTES)}) in the order "
                             f"{', '.join(ATTRIBUTES)}, got shape {tuple(attributes.shape)}")
        if len(nuisance.scale) != attributes.shape[0]:
            raise ValueError(f"FaceDrawing.render: {attributes.shape[0]} attribute rows but a nuisance of "
                             f"{len(nuisance.scale)} images")
        n, fine = attributes.shape[0], self.size * SUPERSAMPLE
        out = torch.empty(n, 3, self.size, self.size, dtype=torch.uint8)
        step = max(1, _CHUNK_PIXELS // (fine * fine))
        for s in range(0, n, step):
            rows = slice(s, s + step)
            image = F.avg_pool2d(self._paint(attributes[rows] > 0.5, nuisance[rows], fine), SUPERSAMPLE)
            out[rows] = (image * 255).round().clamp(0, 255).to(torch.uint8)
        return out

    def _paint(self, a: torch.Tensor, nz: Nuisance, fine: int) -> torch.Tensor:
        """The supersampled picture ``(n, 3, fine, fine)`` in [0, 1]: each layer writes its index into
        a map of which layer shows where (painter's algorithm), then the map is coloured."""
        smiling, male, young, glasses, wavy = (a[:, ATTRIBUTES.index(name)].view(-1, 1, 1) for name in
                                               ("Smiling", "Male", "Young", "Eyeglasses", "Wavy_Hair"))
        n, old = a.shape[0], ~young
        grid = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine
        scale = nz.scale.view(-1, 1, 1)
        u = (grid.view(1, 1, -1) - nz.centre[:, 0].view(-1, 1, 1)) / scale  # (n, 1, W): local x, right
        v = (grid.view(1, -1, 1) - nz.centre[:, 1].view(-1, 1, 1)) / scale  # (n, H, 1): local y, down
        layer = torch.zeros(n, fine, fine, dtype=torch.uint8)
        everywhere = (slice(None), slice(None))

        def paint(inside: torch.Tensor, index: int | torch.Tensor, at: tuple[slice, slice] = everywhere) -> None:
            view = layer[:, at[0], at[1]]
            if isinstance(index, int):
                view.masked_fill_(inside, index)
            else:
                view.copy_(torch.where(inside, index, view))

        def window(u0: float, u1: float, v0: float, v1: float) -> tuple[slice, slice]:
            """The rows and columns holding local ``[u0, u1] x [v0, v1]`` in every image of the chunk."""
            def span(c: torch.Tensor, lo: float, hi: float) -> slice:
                start, stop = float((c + nz.scale * lo).min()), float((c + nz.scale * hi).max())
                return slice(max(0, math.floor(start * fine)), min(fine, math.ceil(stop * fine)))
            return span(nz.centre[:, 1], v0, v1), span(nz.centre[:, 0], u0, u1)

        wave_phase, streak_phase = (nz.phase[:, i].view(-1, 1, 1) for i in range(2))
        wave = wavy.float()
        band = wavy & (torch.sin(2 * math.pi * (v + 0.025 * torch.sin(2 * math.pi * u / 0.12)) / 0.1 + wave_phase) > 0)
        streak = old & (torch.sin(2 * math.pi * u / 0.05 + streak_phase) > 0.35)
        hair = torch.where(streak, _L["streak"], torch.where(band, _L["band"], _L["hair"])).to(torch.uint8)

        # the head's outline: a man's jaw is wider and squarer
        rx, ry = torch.where(male, 0.255, 0.225), 0.30
        ax, ay = u.abs() / rx, v.abs() / ry
        face = torch.where(male & (v > 0), ax ** 3 + ay ** 3, ax ** 2 + ay ** 2) <= 1
        theta = torch.atan2(v, u)
        cap_r = (u / (rx + 0.04)) ** 2 + ((v + 0.025) / (ry + 0.045)) ** 2
        cap_edge = (1 + wave * 0.08 * torch.sin(9 * theta + wave_phase)) ** 2

        # shirt, long hair (female), neck, face
        paint((u / 0.46) ** 2 + ((v - 0.66) / 0.26) ** 2 <= 1, _L["shirt"])
        side = u.abs() <= rx + 0.085 + wave * 0.04 * torch.sin(2 * math.pi * v / 0.14 + wave_phase)
        bottom = v <= 0.38 + wave * 0.04 * torch.sin(2 * math.pi * u / 0.12 + wave_phase)
        paint(~male & ((cap_r <= cap_edge) | (side & (v >= -0.1) & bottom)), hair)
        paint((u.abs() <= 0.095) & (v >= 0.1) & (v <= 0.45), _L["neck"])
        paint(face, _L["skin"])

        # the lower face, in its window: beard shadow (male), nose, smile-line folds (old), mouth
        low = window(-0.29, 0.29, 0.0, 0.31)
        u_, v_, face_ = u[:, :, low[1]], v[:, low[0]], face[:, low[0], low[1]]
        paint(face_ & male & (v_ >= 0.11 - 1.2 * u_ ** 2), _L["stubble"], low)
        paint((u_.abs() <= 0.012) & (v_ >= 0.02) & (v_ <= 0.08), _L["nose"], low)
        folds = _line(u_.abs() - 0.085 - 0.35 * (v_ - 0.03), 0.009) & (v_ >= 0.03) & (v_ <= 0.15)
        paint(folds & old & face_, _L["wrinkle"], low)
        w, v0 = 0.11, 0.145  # open with upturned corners and teeth (Smiling), else a flat line
        t = (u_ / w) ** 2
        top = v0 - 0.04 * t
        open_mouth = smiling & (u_.abs() <= w) & (v_ >= top) & (v_ <= v0 + 0.07 * (1 - t) - 0.04 * t)
        paint(open_mouth, _L["lip"], low)
        paint(open_mouth & (v_ <= top + 0.018), _L["white"], low)
        paint(~smiling & (u_.abs() <= 0.075) & _line(v_ - v0 - 0.015, 0.011), _L["line_lip"], low)

        # the upper face, in its window: forehead lines (old), eyes, brows
        up = window(-0.29, 0.29, -0.16, 0.06)
        u_, v_, face_ = u[:, :, up[1]], v[:, up[0]], face[:, up[0], up[1]]
        forehead = (_line(v_ + 0.13 - 0.5 * u_ ** 2, 0.009) | _line(v_ + 0.105 - 0.5 * u_ ** 2, 0.009)) & (
            u_.abs() <= 0.12)
        paint(forehead & old & face_, _L["wrinkle"], up)
        for ex in (-0.09, 0.09):
            paint(((u_ - ex) / 0.045) ** 2 + ((v_ + 0.02) / 0.026) ** 2 <= 1, _L["white"], up)
            paint((u_ - ex) ** 2 + (v_ + 0.02) ** 2 <= 0.019 ** 2, _L["iris"], up)
            paint(_line(v_ + 0.068 + 4 * (u_ - ex) ** 2, 0.009) & ((u_ - ex).abs() <= 0.05), _L["brow"], up)

        # hair cap over the forehead (a man's short one has sideburns)
        hairline = v <= -0.155 + 1.3 * u ** 2
        male_cap = male & (cap_r <= (1 + wave * 0.06 * torch.sin(9 * theta + wave_phase)) ** 2) & (
            hairline | ((u.abs() >= rx - 0.035) & (v <= -0.01)))
        female_cap = ~male & (cap_r <= cap_edge) & (hairline | ((u.abs() >= rx - 0.03) & (v <= 0.05)))
        paint(male_cap | female_cap, hair)

        # glasses: two rings, the bridge and the temple arms
        u_, v_ = u[:, :, up[1]], v[:, up[0]]
        ring = [_line(torch.sqrt((u_ - ex) ** 2 + (v_ + 0.02) ** 2) - 0.063, 0.012) for ex in (-0.09, 0.09)]
        bar = _line(v_ + 0.025, 0.009) & ((u_.abs() <= 0.03) | ((u_.abs() >= 0.15) & (u_.abs() <= rx + 0.01)))
        paint(glasses & (ring[0] | ring[1] | bar), _L["frame"], up)
        return self._colour(layer, a, nz)

    @staticmethod
    def _colour(layer: torch.Tensor, a: torch.Tensor, nz: Nuisance) -> torch.Tensor:
        """``(n, 3, H, W)`` colours of the layer map: a palette per image, indexed by layer."""
        n = a.shape[0]
        black, blond, young = (a[:, ATTRIBUTES.index(name)].view(-1, 1) for name in ("Black_Hair", "Blond_Hair", "Young"))
        old = ~young
        skin = torch.where(old, nz.skin + 0.3 * (_PALE - nz.skin), nz.skin)
        hair = torch.where(black, _HAIR["black"], torch.where(blond, _HAIR["blond"], _HAIR["brown"]))
        hair = (hair * nz.hair_shade.view(-1, 1)).clamp(0, 1)
        one = torch.ones(n, 1)
        palette = {
            "background": nz.background.view(-1, 1) * one.expand(-1, 3), "shirt": nz.shirt, "hair": hair,
            "band": torch.where(black, hair + 0.12, hair * 0.55), "streak": hair + 0.75 * (_GREY_HAIR - hair),
            "neck": skin * 0.88, "skin": skin, "stubble": skin + 0.3 * (_STUBBLE - skin), "nose": skin * 0.8,
            "wrinkle": skin * 0.55, "white": _WHITE * one, "iris": _IRIS * one, "brow": hair * 0.7,
            "lip": _LIP * one, "line_lip": _LINE_LIP * one, "frame": _FRAME * one,
        }
        table = torch.stack([palette[name] for name in _L], 1)  # (n, layers, 3)
        flat = layer.view(n, -1, 1).long().expand(-1, -1, 3)
        picture = torch.gather(table, 1, flat)  # (n, H*W, 3)
        return picture.view(n, *layer.shape[1:], 3).permute(0, 3, 1, 2)
