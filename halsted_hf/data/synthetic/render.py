"""Render a planned script into frames: the field, the camera, the instruments and the needle.

What a clip shows is decided by motion over time, not by any single frame:
- dissection actions are motion patterns: retraction grasps then pulls the tissue (the field warps
  with the jaws), tug pulls in short repeated jerks, push/peel strokes forward, spread opens the jaws
  inside tissue, cautery/hook flash and smoke and leave char, cutting closes blades and leaves a cut,
  clip and stapler close once and leave clips/staples, extraction carries a specimen out, sponge dabs
  gauze, tube moves a drain, mesh unfolds a mesh, assistant enters from the top port, fluorescence
  switches the field to ICG green, camera move pans and zooms with no instrument, idle holds still;
- the arm is where the instrument enters (left, right, both);
- suturing is a needle on a circle: handling re-orients it in the jaws, driving rotates it through the
  tissue (hidden while inside), withdrawal pulls it out with the other driver and tightens the thread.
  Low proficiency adds tremor, re-grasps and slower phases; the direction is where the needle travels
  relative to the wound (towards it, away from it, across it), the extent how deep and wide the bite is,
  the anatomy the tissue patch it goes into.
Everything else (camera drift, lighting, smoke, sensor noise) varies so single pixels do not give labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .instruments import (disk, draw_clip, draw_instrument, draw_needle, glow,
                          polyline, segment, split_instrument)
from .scene import draw_target, make_canvas, value_noise
from .script import Interval, VideoScript

ENERGY = {"cautery", "hook", "hot cut"}
CLIP_COLOR = {"clip applier": (215, 215, 225), "clipper": (150, 60, 190)}
NEEDLE_SPAN = 2.3   # radians of circle covered by the needle (a 3/8 circle)
BITE = {"surface": 0.045, "single": 0.08, "double": 0.115}  # chord of the bite, fraction of frame width
NEEDLE_RADIUS = 0.07


def smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class VideoRenderer:
    """Renders one `VideoScript` at `size` = (W, H); iterate `frames()` for uint8 (H, W, 3) frames."""

    def __init__(self, script: VideoScript, size: Tuple[int, int] = (160, 120)):
        self.script = script
        self.W, self.H = int(size[0]), int(size[1])
        self.fps = float(script.fps)
        self.n = script.n_frames
        self.rng = np.random.default_rng(script.render_seed)
        W, H, n = self.W, self.H, self.n
        # canvases are twice the frame: the camera looks at 50-80% of the field at a time
        self.Wc, self.Hc = 2 * W, 2 * H
        self.canvas: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
        for proc in script.procedures:
            self.canvas[proc] = make_canvas(proc, self.Hc, self.Wc, self.rng)
        self.gy, self.gx = np.mgrid[0:H, 0:W].astype(np.float32)
        self.step_idx = np.zeros(n, np.int32)
        for i, s in enumerate(script.steps):
            self.step_idx[s.start:s.end] = i
        self.action_idx = np.full(n, -1, np.int32)
        for i, iv in enumerate(script.actions):
            self.action_idx[iv.start:iv.end] = i
        self.stitch_idx = np.full(n, -1, np.int32)   # the stitch being made or coming next
        self.phase_idx = np.full(n, -1, np.int32)
        for i, st in enumerate(script.stitches):
            # frames before a stitch (since the last one, within the step) show its patch and needle ready
            step = script.steps[self.step_idx[st.phases[0].start]]
            prev_end = script.stitches[i - 1].phases[-1].end if i else 0
            self.stitch_idx[max(step.start, prev_end):st.phases[-1].end] = i
            for j, ph in enumerate(st.phases):
                self.phase_idx[ph.start:ph.end] = j
        self._camera_path()
        t = np.arange(n) / self.fps
        r = self.rng.uniform(0, 2 * math.pi, 4)
        self.gain = 1.0 + 0.09 * np.sin(2 * math.pi * t / 23 + r[0]) + 0.04 * np.sin(2 * math.pi * t / 7.3 + r[1])
        self.light = np.stack([0.5 + 0.15 * np.sin(2 * math.pi * t / 31 + r[2]),
                               0.45 + 0.12 * np.sin(2 * math.pi * t / 19 + r[3])], 1)
        # tremor: smooth random jitter of unit scale, per frame (low proficiency multiplies it up)
        walk = self.rng.normal(size=(n + 4, 2))
        self.tremor = ((walk[:-4] + walk[1:-3] + walk[2:-2] + walk[3:-1] + walk[4:]) / 2.2).astype(np.float32)
        self.noise = self.rng.normal(0, 3.5, size=(6, H, W, 3)).astype(np.float32)
        self.smoke_tex = value_noise(self.rng, 2 * H, 2 * W, W / 8)
        self.smoke_level, self.smoke_at = 0.0, (W / 2, H / 2)
        self.params: Dict[Tuple[str, int], dict] = {}

    # ---- camera -------------------------------------------------------------------------------
    def _camera_path(self) -> None:
        """Zoom and pan per frame: slow drift plus the jumps of `camera move` actions (which persist)."""
        n, fps, rng = self.n, self.fps, self.rng
        t = np.arange(n) / fps
        r = rng.uniform(0, 2 * math.pi, 6)
        self.zoom = (1.28 + 0.12 * np.sin(2 * math.pi * t / 41 + r[0]) + 0.05 * np.sin(2 * math.pi * t / 13 + r[1]))
        drift_x = 0.35 * np.sin(2 * math.pi * t / 37 + r[2]) + 0.15 * np.sin(2 * math.pi * t / 11 + r[3])
        drift_y = 0.35 * np.sin(2 * math.pi * t / 29 + r[4]) + 0.15 * np.sin(2 * math.pi * t / 9 + r[5])
        jump = np.zeros((n, 3))
        cur = np.zeros(3)
        for iv in self.script.actions:
            if iv.tags["action"] != "camera move":
                continue
            new = np.array([rng.uniform(-.6, .6), rng.uniform(-.6, .6), rng.uniform(-.2, .2)])
            k = np.arange(iv.end - iv.start)
            ramp = smooth(k / max(1, len(k) - 1))[:, None]
            jump[iv.start:iv.end] = cur + (new - cur) * ramp
            jump[iv.end:] = new
            cur = new
        self.zoom = np.clip(self.zoom + jump[:, 2], 1.0, 1.6)
        fx = np.clip(drift_x + jump[:, 0], -1, 1)
        fy = np.clip(drift_y + jump[:, 1], -1, 1)
        self.cam_x = self.Wc / 2 + fx * (self.Wc - self.W * self.zoom) / 2
        self.cam_y = self.Hc / 2 + fy * (self.Hc - self.H * self.zoom) / 2

    def to_canvas(self, f: int, p) -> Tuple[float, float]:
        z = self.zoom[f]
        return (self.cam_x[f] + (p[0] - self.W / 2) * z, self.cam_y[f] + (p[1] - self.H / 2) * z)

    def to_frame(self, f: int, p) -> Tuple[float, float]:
        z = self.zoom[f]
        return ((p[0] - self.cam_x[f]) / z + self.W / 2, (p[1] - self.cam_y[f]) / z + self.H / 2)

    # ---- frames -------------------------------------------------------------------------------
    def frames(self) -> Iterator[np.ndarray]:
        for f in range(self.n):
            yield self.frame(f)

    def frame(self, f: int) -> np.ndarray:
        step = self.script.steps[self.step_idx[f]]
        canvas, perf = self.canvas[step.procedure]
        st = {"pulls": [], "radial": [], "tools": [], "draw": [], "flash": [], "smoke": 0.0, "fluo": False}
        if step.step == "dissection" and self.action_idx[f] >= 0:
            self._dissection(f, self.action_idx[f], st, canvas)
        elif step.step == "suturing" and self.stitch_idx[f] >= 0:
            self._suturing(f, self.stitch_idx[f], st)
        W, H, z = self.W, self.H, self.zoom[f]
        X = self.cam_x[f] + (self.gx - W / 2) * z
        Y = self.cam_y[f] + (self.gy - H / 2) * z
        for c, vec, sigma in st["pulls"]:  # tissue moves with the instrument: sample behind it
            g = np.exp(-((self.gx - c[0]) ** 2 + (self.gy - c[1]) ** 2) / (2 * sigma * sigma))
            X -= vec[0] * g * z
            Y -= vec[1] * g * z
        for c, amp, sigma in st["radial"]:  # tissue spreads away from opened jaws
            dx, dy = self.gx - c[0], self.gy - c[1]
            r = np.sqrt(dx * dx + dy * dy) + 1e-3
            g = amp * np.exp(-(r * r) / (2 * sigma * sigma)) / r
            X -= dx * g * z
            Y -= dy * g * z
        xi = np.clip(X, 0, self.Wc - 1).astype(np.int32)
        yi = np.clip(Y, 0, self.Hc - 1).astype(np.int32)
        img = canvas[yi, xi]
        if st["fluo"]:  # ICG mode: dim grey field, perfused tissue and vessels glow green
            grey = img.mean(axis=2) * 0.35
            green = np.minimum(255, 1.6 * grey + 25 + 190 * perf[yi, xi])
            img = np.stack([grey, green, grey], axis=2)
        for draw in st["draw"]:
            draw(img)
        for name, entry, tip, opening, extra in st["tools"]:
            draw_instrument(img, name, entry, tip, opening, scale=W, clip_color=extra)
        for c, strength in st["flash"]:
            glow(img, c, 0.035 * W, (255, 240, 200), strength)
            glow(img, c, 0.012 * W, (200, 220, 255), 1.5 * strength)
        self._smoke(f, img, st)
        lx, ly = self.light[f] * (W, H)
        vignette = 1.05 - 0.55 * (((self.gx - lx) / W) ** 2 + ((self.gy - ly) / H) ** 2)
        flash_gain = 1.0 + 0.1 * sum(s for _, s in st["flash"])
        img *= (vignette * (self.gain[f] * flash_gain))[..., None]
        img += self.noise[f % len(self.noise)]
        return np.clip(img, 0, 255).astype(np.uint8)

    def _smoke(self, f: int, img: np.ndarray, st: dict) -> None:
        decay = 0.5 ** (1.0 / (1.8 * self.fps))  # half-life 1.8 s
        self.smoke_level = self.smoke_level * decay + st["smoke"] / self.fps
        if st["smoke"] > 0:
            self.smoke_at = st["smoke_at"]
        if self.smoke_level < 0.01:
            return
        W, H = self.W, self.H
        sx, sy = self.smoke_at
        sy -= 0.02 * H  # smoke rises
        self.smoke_at = (sx, sy)
        sigma = 0.18 * W + 0.1 * W * min(1.0, self.smoke_level)
        blob = np.exp(-((self.gx - sx) ** 2 + (self.gy - sy) ** 2) / (2 * sigma * sigma))
        off = int(f * 0.7) % H
        tex = self.smoke_tex[off:off + H, (f // 2) % W:(f // 2) % W + W]
        a = np.clip(min(0.85, self.smoke_level) * (0.35 + 0.8 * blob) * (0.5 + tex), 0, 0.9)
        img += a[..., None] * (np.float32(205) - img)

    # ---- dissection ---------------------------------------------------------------------------
    def _entry(self, arm: str):
        W, H, rng = self.W, self.H, self.rng
        if arm == "left":
            return (-0.08 * W, H * rng.uniform(0.7, 1.05))
        if arm == "right":
            return (1.08 * W, H * rng.uniform(0.7, 1.05))
        return (W * rng.uniform(0.3, 0.7), -0.12 * H)  # assistant port, above

    def _action_params(self, i: int, iv: Interval) -> dict:
        key = ("action", i)
        if key in self.params:
            return self.params[key]
        rng, W, H = self.rng, self.W, self.H
        tags = iv.tags
        names = split_instrument(tags["instrument"]) if "instrument" in tags else ()
        arm = tags.get("arm", "top" if names else None)
        tools = []
        if arm == "both":
            tools = [(names[0], self._entry("left")), (names[1], self._entry("right"))]
        elif names:
            tools = [(names[0], self._entry(arm))]
        target = (W * rng.uniform(0.35, 0.65), H * rng.uniform(0.35, 0.6))
        p = {"tools": tools, "target": target, "freq": rng.uniform(0.8, 1.4), "phase": rng.uniform(0, 6.3),
             "side": rng.choice([-1.0, 1.0]), "cut_dir": rng.uniform(0, math.pi), "done": set(),
             "wander": rng.normal(size=(4, 2))}
        self.params = {k: v for k, v in self.params.items() if k[0] != "action"}  # keep only the current one
        self.params[key] = p
        return p

    def _dissection(self, f: int, i: int, st: dict, canvas: np.ndarray) -> None:
        iv = self.script.actions[i]
        p = self._action_params(i, iv)
        action = iv.tags["action"]
        W, H = self.W, self.H
        n = iv.end - iv.start
        u = (f - iv.start) / max(1, n - 1)
        t = (f - iv.start) / self.fps
        if action == "fluorescence":
            st["fluo"] = True
        if not p["tools"]:
            return  # camera move: the camera path does the work
        target = p["target"]
        primary = len(p["tools"]) - 1
        for k, (name, entry) in enumerate(p["tools"]):
            if k != primary:  # the left arm of a pair gives counter-traction next to the work
                tgt2 = (target[0] - 0.16 * W, target[1] + 0.05 * H)
                a = smooth(u / 0.15)
                rest = (entry[0] + 0.5 * (tgt2[0] - entry[0]), entry[1] + 0.5 * (tgt2[1] - entry[1]))
                pull = 0.05 * W * smooth((u - 0.2) / 0.3)
                tip = (rest[0] + (tgt2[0] - rest[0]) * a - pull, rest[1] + (tgt2[1] - rest[1]) * a + 0.3 * pull)
                held = smooth((u - 0.1) / 0.08)  # tissue follows only once the jaws have closed on it
                st["tools"].append((name, entry, tip, 0.8 * (1 - held), None))
                st["pulls"].append((tgt2, ((tip[0] - tgt2[0]) * held, (tip[1] - tgt2[1]) * held), 0.1 * W))
                continue
            pose = self._action_pose(Pose(f, action, name, entry, target, u, t, p, st, canvas))
            st["tools"].append((name, entry, (pose.tip[0], pose.tip[1]), pose.opening, pose.extra))

    def _action_pose(self, pose: "Pose") -> "Pose":
        """Tip, jaw opening and loaded clip of the acting instrument, and the tissue/smoke/marks it causes:
        the approach every action shares, then the action's own motion (ACTION_MOTIONS)."""
        entry, target, u = pose.entry, pose.target, pose.u
        rest = (entry[0] + 0.55 * (target[0] - entry[0]), entry[1] + 0.55 * (target[1] - entry[1]))
        a = smooth(u / 0.15) * (1 - 0.6 * smooth((u - 0.9) / 0.1))
        pose.tip = [rest[0] + (target[0] - rest[0]) * a, rest[1] + (target[1] - rest[1]) * a]
        back = np.array(entry) - np.array(target)
        pose.back = back / (np.linalg.norm(back) + 1e-6)
        pose.w = 2 * math.pi * pose.p["freq"]
        pose.grip = smooth((u - 0.15) / 0.08)  # jaws close on tissue just after arrival
        ACTION_MOTIONS.get(pose.action, _wander)(self, pose)
        return pose

    def _mark(self, f, key, p, canvas, draw) -> None:
        """Leave a lasting mark on the field (char, cut, clip, staples), once per key per action."""
        if key in p["done"]:
            return
        p["done"].add(key)
        draw(canvas, self.W * self.zoom[f])

    def _staples(self, canvas, f, q, back) -> None:
        n = (-back[1], back[0])
        for k in range(-3, 4):
            for side in (-1, 1):
                c = (q[0] + n[0] * k * 0.018 * self.W + back[0] * side * 0.012 * self.W,
                     q[1] + n[1] * k * 0.018 * self.W + back[1] * side * 0.012 * self.W)
                disk(canvas, self.to_canvas(f, c), 0.005 * self.W * self.zoom[f], (225, 225, 235))

    def _mesh(self, img, c, size) -> None:
        disk(img, c, size, (200, 225, 240), alpha=0.35, ry=size * 0.7)
        for k in range(-3, 4):
            o = k * size / 4
            segment(img, (c[0] + o, c[1] - size * 0.6), (c[0] + o, c[1] + size * 0.6), 0.6, (235, 245, 255), 0.8,
                    False)
            segment(img, (c[0] - size, c[1] + o * 0.6), (c[0] + size, c[1] + o * 0.6), 0.6, (235, 245, 255), 0.8,
                    False)

    # ---- suturing -----------------------------------------------------------------------------
    def _stitch_params(self, f: int, i: int) -> dict:
        key = ("stitch", i)
        if key in self.params:
            return self.params[key]
        rng, W, H = self.rng, self.W, self.H
        st = self.script.stitches[i]
        center = self.to_canvas(f, (W * rng.uniform(0.42, 0.58), H * rng.uniform(0.4, 0.55)))
        slit = math.pi / 2 + rng.uniform(-0.4, 0.4)
        normal = (math.cos(slit + math.pi / 2), math.sin(slit + math.pi / 2))
        z = self.zoom[f]
        d = BITE[st.extent] * W * z * rng.uniform(0.9, 1.1)  # canvas units
        side = rng.choice([-1.0, 1.0])
        nx, ny = normal[0] * side, normal[1] * side
        if st.direction == "in":      # from healthy tissue towards the wound
            s, e = (center[0] + nx * d, center[1] + ny * d), center
        elif st.direction == "out":   # from the wound outwards
            s, e = center, (center[0] + nx * d, center[1] + ny * d)
        else:                         # across the wound, one side to the other
            s, e = (center[0] + nx * d / 2, center[1] + ny * d / 2), (center[0] - nx * d / 2, center[1] - ny * d / 2)
        p = {"center": center, "slit": slit, "rx": 0.2 * W * z * rng.uniform(0.9, 1.1),
             "ry": 0.15 * W * z * rng.uniform(0.9, 1.1), "start": s, "end": e,
             "right": self._entry("right"), "left": self._entry("left"),
             "anchor": (-0.1 * W, H * rng.uniform(0.1, 0.4)), "regrasp": rng.uniform(0.3, 0.6, 3)}
        self.params = {k: v for k, v in self.params.items() if k[0] != "stitch"}
        self.params[key] = p
        return p

    def _suturing(self, f: int, i: int, st: dict) -> None:
        stitch = self.script.stitches[i]
        p = self._stitch_params(f, i)
        W = self.W
        z = self.zoom[f]
        c = self.to_frame(f, p["center"])
        S, E = self.to_frame(f, p["start"]), self.to_frame(f, p["end"])
        rx, ry = p["rx"] / z, p["ry"] / z
        st["draw"].append(lambda img: draw_target(img, c, rx, ry, p["slit"], stitch.anatomy))
        j = self.phase_idx[f]
        if j < 0:  # between stitches: hold the needle ready above the next bite
            phase, prof, u = "needle handling", "high", 0.0
        else:
            ph = stitch.phases[j]
            phase, prof = ph.tags["phase"], ph.tags["proficiency"]
            u = (f - ph.start) / max(1, ph.end - ph.start - 1)
        t = f / self.fps
        low = prof == "low"
        trem = self.tremor[f] * (0.014 * W if low else 0.0025 * W)
        # circle of the needle through the bite's start and end, bulging downwards
        rn = NEEDLE_RADIUS * W
        chord = (E[0] - S[0], E[1] - S[1])
        clen = math.hypot(*chord) or 1.0
        q = (-chord[1] / clen, chord[0] / clen)
        if q[1] < 0:
            q = (-q[0], -q[1])
        h = math.sqrt(max(rn * rn - (clen / 2) ** 2, 0.0))
        C = ((S[0] + E[0]) / 2 - q[0] * h, (S[1] + E[1]) / 2 - q[1] * h)
        a_s = math.atan2(S[1] - C[1], S[0] - C[0])
        a_e = math.atan2(E[1] - C[1], E[0] - C[0])
        delta = (a_e - a_s + math.pi) % (2 * math.pi) - math.pi
        sgn = 1.0 if delta >= 0 else -1.0
        bite = abs(delta)
        alpha_in = {"surface": 0.55, "single": 0.0, "double": 0.0}[stitch.extent]

        def hidden(a):
            phi = ((a - a_s) * sgn) % (2 * math.pi)
            if 0 < phi < bite:
                if stitch.extent == "double" and 0.4 * bite < phi < 0.6 * bite:
                    return 1.0  # crossing the gap between the two layers
                return alpha_in
            return 1.0

        a0 = a_s - sgn * 0.15
        a_drive_end = a0 + sgn * (bite + 0.5)
        right, left = p["right"], p["left"]
        regrasp = [abs(u - r) < 0.06 for r in p["regrasp"]] if low else [False]
        slip = any(regrasp)
        if phase == "needle handling":
            wobble = (0.45 if low else 0.25) * math.sin(2 * math.pi * (0.5 if low else 0.8) * t)
            jumps = sum(0.35 for r in p["regrasp"] if low and u > r)
            tip_a = a0 - sgn * 0.4 * (1 - u) + wobble * (1 - u) + jumps * (1 - u)
            lift = 1 - smooth(u)
            Cn = (C[0] + 0.06 * W * lift + trem[0], C[1] - 0.1 * W * lift + trem[1])
            r_open = 0.7 if slip else 0.0
            l_tip_target = 0.35 < u < 0.7 or (low and slip)
            hide = None
        elif phase == "driving":
            prog = smooth(u)
            if low:  # pushes, backs off, pushes again
                prog = prog - 0.12 * math.sin(math.pi * float(np.clip((u - 0.35) / 0.3, 0, 1)))
            tip_a = a0 + sgn * (bite + 0.5) * prog
            Cn = (C[0] + trem[0] * 0.5, C[1] + trem[1] * 0.5)
            r_open = 0.7 if slip else 0.0
            l_tip_target = False
            hide = hidden
        else:  # withdrawal
            prog = smooth(u / 0.6)
            tip_a = a_drive_end + sgn * (NEEDLE_SPAN + 0.2) * prog
            away = smooth((u - 0.6) / 0.4)
            Cn = (C[0] - 0.2 * W * away + trem[0], C[1] - 0.2 * W * away + trem[1])
            r_open = 0.6
            l_tip_target = True
            hide = hidden if away == 0 else None
        st["draw"].append(lambda img: self._needle_and_thread(img, Cn, rn, tip_a, sgn, hide, phase, S, E, p))
        tip = (Cn[0] + rn * math.cos(tip_a), Cn[1] + rn * math.sin(tip_a))
        tail_a = tip_a - sgn * NEEDLE_SPAN * 0.85
        grip = (Cn[0] + rn * math.cos(tail_a), Cn[1] + rn * math.sin(tail_a))
        if phase == "withdrawal":  # the right driver has let go and backs off
            grip = (grip[0] + (right[0] - grip[0]) * 0.25, grip[1] + (right[1] - grip[1]) * 0.25)
        st["tools"].append(("needle driver", right, grip, r_open, None))
        if l_tip_target:
            l_tip = (tip[0] + trem[1], tip[1] + trem[0])
            l_open = 0.7 if slip else 0.05
        else:
            l_tip = (E[0] - 0.12 * W, E[1] - 0.06 * W)
            l_open = 0.4
        st["tools"].append(("needle driver", left, l_tip, l_open, None))
        if phase == "withdrawal":
            tension = 0.03 * W * smooth((u - 0.5) / 0.3)
            st["pulls"].append((E, (-tension, -tension), 0.05 * W))

    def _needle_and_thread(self, img, Cn, rn, tip_a, sgn, hide, phase, S, E, p) -> None:
        W = self.W
        color, r = (120, 60, 170), max(0.6, 0.004 * W)
        tip, tail = draw_needle(img, Cn, rn, tip_a, NEEDLE_SPAN, sgn, hidden=hide, scale=W)
        anchor = p["anchor"]
        if phase == "withdrawal":
            polyline(img, [anchor, ((anchor[0] + S[0]) / 2, (anchor[1] + S[1]) / 2 + 0.05 * W), S], r, color,
                     shade=False)
            segment(img, E, tail, r, color, shade=False)
        else:
            polyline(img, [anchor, ((anchor[0] + tail[0]) / 2, (anchor[1] + tail[1]) / 2 + 0.08 * W), tail], r,
                     color, shade=False)


# ---- what each dissection action does, frame by frame ----------------------------------------------------
@dataclass
class Pose:
    """One frame of the acting instrument in a dissection action. In: the frame, the action, the instrument,
    where it enters and what it works on, the action's progress `u` (0 -> 1) and time `t` (s), the action's
    random parameters `p`, the frame's scene state `st` (pulls, flashes, smoke, drawings) and the field
    `canvas` (lasting marks). Out: the tip, the jaw opening and `extra` (the colour of a loaded clip)."""
    f: int
    action: str
    name: str
    entry: Tuple[float, float]
    target: Tuple[float, float]
    u: float
    t: float
    p: dict
    st: dict
    canvas: np.ndarray
    tip: List[float] = field(default_factory=list)
    back: Optional[np.ndarray] = None  # unit vector from the target back towards the entry port
    w: float = 0.0                     # the action's angular frequency (rad/s)
    grip: float = 0.0                  # 0 -> 1 as the jaws close on tissue just after arrival
    opening: float = 0.3
    extra: Optional[tuple] = None


def _retraction(r: "VideoRenderer", s: Pose) -> None:
    """Grasp, then pull the tissue back towards the port (the field warps with the jaws)."""
    W, target, back = r.W, s.target, s.back
    s.opening = 0.8 * (1 - s.grip)
    pull = 0.16 * W * smooth((s.u - 0.25) / 0.55) * (1 - smooth((s.u - 0.9) / 0.1))
    vec = (back[0] * pull * 0.6, (back[1] * 0.6 - 0.8) * pull)
    s.tip = [target[0] + vec[0], target[1] + vec[1]] if s.u > 0.15 else s.tip
    s.st["pulls"].append((target, vec, 0.13 * W))


def _tug(r: "VideoRenderer", s: Pose) -> None:
    """Short repeated jerks."""
    W, back = r.W, s.back
    s.opening = 0.8 * (1 - s.grip)
    jerk = 0.06 * W * (0.5 - 0.5 * math.cos(s.w * 1.6 * s.t)) * s.grip
    vec = (back[0] * jerk, back[1] * jerk - 0.5 * jerk)
    s.tip = [s.tip[0] + vec[0], s.tip[1] + vec[1]]
    s.st["pulls"].append((s.target, vec, 0.1 * W))


def _push_peel(r: "VideoRenderer", s: Pose) -> None:
    """Forward strokes with a sideways sweep."""
    W, back, w, t, target = r.W, s.back, s.w, s.t, s.target
    s.opening = 0.0
    stroke = 0.06 * W * (0.5 - 0.5 * math.cos(w * t)) * s.grip
    lateral = 0.05 * W * math.sin(0.5 * w * t) * s.grip
    vec = (-back[0] * stroke + lateral * back[1], -back[1] * stroke - lateral * back[0])
    s.tip = [s.tip[0] + vec[0], s.tip[1] + vec[1]]
    s.st["pulls"].append(((target[0] + vec[0], target[1] + vec[1]), (vec[0] * 0.8, vec[1] * 0.8), 0.09 * W))


def _spread(r: "VideoRenderer", s: Pose) -> None:
    """The jaws open inside tissue, pushing it outwards."""
    s.opening = s.grip * (0.5 - 0.5 * math.cos(s.w * s.t))
    s.st["radial"].append((tuple(s.tip), 0.05 * r.W * s.opening, 0.08 * r.W))


def _energy(r: "VideoRenderer", s: Pose) -> None:
    """Cautery and hook: burn in spots (flash, smoke, char); the hook also lifts tissue in small arcs."""
    W, H, p, t, w, grip, st, f = r.W, r.H, s.p, s.t, s.w, s.grip, s.st, s.f
    spot = int(t * p["freq"] * 1.5)
    jit = np.sin(np.array([spot * 2.3 + p["phase"], spot * 1.7]))
    tip = [s.tip[0] + 0.04 * W * jit[0] * grip, s.tip[1] + 0.03 * H * jit[1] * grip]
    on = grip > 0.9 and math.sin(w * 2.5 * t + p["phase"]) > -0.1
    if s.action == "hook":  # hooking: lift tissue up in small arcs while burning
        lift = 0.04 * H * (0.5 - 0.5 * math.cos(w * 1.2 * t)) * grip
        tip[1] -= lift
        st["pulls"].append(((tip[0], tip[1] + lift), (0, -lift), 0.05 * W))
        on = on and math.sin(w * 1.2 * t) > 0
    s.opening = 0.0 if s.name not in ("bipolar forceps", "bipolar grasper", "bipolar dissector") else 0.15
    s.tip = tip
    if on:
        st["flash"].append((tuple(tip), 0.9))
        st["smoke"], st["smoke_at"] = 0.7, tuple(tip)
        r._mark(f, ("char", spot), p, s.canvas, lambda c, sz: disk(c, r.to_canvas(f, tip), 0.012 * sz,
                                                                  (70, 40, 30), alpha=0.7))


def _cut(r: "VideoRenderer", s: Pose) -> None:
    """Hot and cold cut: the blades close and advance, leaving a cut (hot: with a flash and smoke)."""
    W, action, grip, st, f = r.W, s.action, s.grip, s.st, s.f
    cyc = s.w * (1.4 if action == "cold cut" else 1.0) * s.t
    s.opening = grip * (0.5 + 0.5 * math.cos(cyc))
    cuts = int(cyc / (2 * math.pi) + 0.5)
    d = (math.cos(s.p["cut_dir"]), math.sin(s.p["cut_dir"]))
    s.tip = [s.tip[0] + d[0] * 0.012 * W * cuts * grip, s.tip[1] + d[1] * 0.012 * W * cuts * grip]
    if grip > 0.9 and s.opening < 0.15:
        if action == "hot cut":
            st["flash"].append((tuple(s.tip), 0.7))
            st["smoke"], st["smoke_at"] = 0.5, tuple(s.tip)
        color = (60, 25, 25) if action == "hot cut" else (150, 20, 25)
        q = tuple(s.tip)
        r._mark(f, ("cut", cuts), s.p, s.canvas, lambda c, sz: segment(
            c, r.to_canvas(f, (q[0] - d[0] * 0.014 * W, q[1] - d[1] * 0.014 * W)),
            r.to_canvas(f, q), 0.006 * sz, color, shade=False))


def _close_once(r: "VideoRenderer", s: Pose) -> None:
    """Clip and stapler: close once, reopen, leave a clip or a row of staples."""
    W, action, u, t, f, back = r.W, s.action, s.u, s.t, s.f, s.back
    close = smooth((u - 0.35) / (0.2 if action == "stapler" else 0.08))
    reopen = smooth((u - 0.75) / 0.08)
    s.opening = 1.0 - close + reopen
    loaded = u < 0.75
    if action == "clip" and loaded:
        s.extra = CLIP_COLOR.get(s.name, (215, 215, 225))
    if reopen > 0.5:
        q, ang = tuple(s.target), math.atan2(back[1], back[0])
        if action == "clip":
            color = CLIP_COLOR.get(s.name, (215, 215, 225))
            r._mark(f, ("clip",), s.p, s.canvas, lambda c, sz: draw_clip(
                c, r.to_canvas(f, q), ang + math.pi / 2, 0.035 * sz, color))
        else:
            r._mark(f, ("staples",), s.p, s.canvas, lambda c, sz: r._staples(c, f, q, back))
    if action == "stapler" and 0.5 < u < 0.75:  # firing: the handle shakes
        s.tip = [s.tip[0] + 0.004 * W * math.sin(40 * t), s.tip[1]]


def _extraction(r: "VideoRenderer", s: Pose) -> None:
    """Carry a specimen out towards the port."""
    W, H, u, back = r.W, r.H, s.u, s.back
    s.opening = 0.0
    out = smooth((u - 0.2) / 0.7) * 0.45 * W
    s.tip = [s.tip[0] + back[0] * out, s.tip[1] + back[1] * out] if u > 0.2 else s.tip
    c = (s.tip[0] + 0.02 * W, s.tip[1] + 0.01 * H)
    s.st["draw"].append(lambda img, c=c: (disk(img, c, 0.07 * W, (110, 40, 45), ry=0.05 * W, angle=0.4),
                                          disk(img, (c[0] - 0.02 * W, c[1] - 0.01 * W), 0.02 * W,
                                               (235, 225, 225), alpha=0.6)))


def _sponge(r: "VideoRenderer", s: Pose) -> None:
    """Dab gauze on the field."""
    W, H = r.W, r.H
    s.opening = 0.0
    dab = 0.05 * H * (0.5 - 0.5 * math.cos(s.w * 1.5 * s.t)) * s.grip
    s.tip[1] -= dab
    c = (s.tip[0], s.tip[1] + 0.01 * H)
    s.st["draw"].append(lambda img, c=c: disk(img, c, 0.06 * W, (245, 240, 235), ry=0.045 * W))


def _tube(r: "VideoRenderer", s: Pose) -> None:
    """Move a drain that comes in from the right edge."""
    W, H = r.W, r.H
    s.opening = 0.0
    sway = 0.06 * W * math.sin(s.w * 0.7 * s.t)
    s.tip[0] += sway * s.grip
    q = tuple(s.tip)
    s.st["draw"].append(lambda img, q=q: polyline(img, [(1.05 * W, 0.2 * H), (0.7 * W, 0.15 * H + 0.3 * sway),
                                                        (q[0] + 0.02 * W, q[1])], 0.025 * W, (236, 226, 170)))


def _unfold_mesh(r: "VideoRenderer", s: Pose) -> None:
    """Unfold a mesh over the target."""
    W, H, u, target = r.W, r.H, s.u, s.target
    s.opening = 0.0
    size = 0.05 * W + 0.12 * W * smooth((u - 0.15) / 0.6)
    q = (target[0] + 0.5 * size, target[1])
    s.tip = [target[0] + size * 0.9, target[1] - 0.02 * H] if u > 0.15 else s.tip
    s.st["draw"].append(lambda img, q=q, size=size: r._mesh(img, q, size))


def _assistant(r: "VideoRenderer", s: Pose) -> None:
    """From the top port, moving in and out; suction shrinks a pool of blood."""
    W, H, u, target = r.W, r.H, s.u, s.target
    s.opening = 0.0
    depth = 0.5 + 0.5 * math.sin(s.w * 0.8 * s.t)
    s.tip = [s.tip[0], s.tip[1] + 0.05 * H * depth]
    if s.name == "suction":  # a pool of blood shrinks as it is sucked away
        rad = 0.06 * W * (1 - 0.8 * u)
        q = (target[0], target[1] + 0.06 * H)
        s.st["draw"].append(lambda img, q=q, rad=rad: disk(img, q, rad, (120, 10, 20), alpha=0.85, soft=2))


def _still(r: "VideoRenderer", s: Pose) -> None:
    """Idle and fluorescence: the instrument holds almost still."""
    s.opening = 0.2
    s.tip = [s.tip[0] + 0.004 * r.W * math.sin(0.5 * s.t), s.tip[1]]


def _wander(r: "VideoRenderer", s: Pose) -> None:
    """Other: wanders around with no purpose."""
    W, H, t, grip, wv = r.W, r.H, s.t, s.grip, s.p["wander"]
    s.tip = [s.tip[0] + 0.08 * W * math.sin(0.9 * t + wv[0, 0]) * grip,
             s.tip[1] + 0.06 * H * math.sin(0.7 * t + wv[0, 1]) * grip]
    s.opening = 0.5 + 0.5 * math.sin(1.3 * t + wv[1, 0])


# action -> its motion; an action not listed wanders (`_wander`)
ACTION_MOTIONS = {
    "retraction": _retraction, "tug": _tug, "push/peel": _push_peel, "spread": _spread,
    "cautery": _energy, "hook": _energy, "hot cut": _cut, "cold cut": _cut, "clip": _close_once,
    "stapler": _close_once, "extraction": _extraction, "sponge": _sponge, "tube": _tube, "mesh": _unfold_mesh,
    "assistant": _assistant, "idle": _still, "fluorescence": _still,
}


def render_video(script: VideoScript, path: str, size: Tuple[int, int] = (160, 120), crf: int = 23,
                 preset: str = "veryfast") -> str:
    """Render one script to an H.264 MP4 at `path` (atomic). Returns the path."""
    from ...video.writer import VideoWriter

    renderer = VideoRenderer(script, size)
    with VideoWriter(path, fps=_fps_value(script.fps), size=size, crf=crf, preset=preset, threads=1) as writer:
        for frame in renderer.frames():
            writer.write(frame)
    return path


def _fps_value(fps: float):
    return int(fps) if float(fps).is_integer() else fps
