"""The synthetic renderer's pixels are pinned: refactoring render.py must not change one byte of a rendered
video (the synthetic atlas, its caches and every number measured on it depend on them).

The digests below were computed from the renderer as of commit 905d442, before `_action_pose` was split
into one small function per action. These six 1-minute videos show all 19 dissection actions (the check
below asserts it), suturing, both arms and the assistant port. A change that is meant to alter the
pictures must update the digests in the same commit and say why; regenerate them with
`PYTHONPATH=. python -c "from tests.test_render_pixels import digests; print(digests())"`.
"""

from __future__ import annotations

import hashlib

PINNED = ['2b51f47c9883af39', '53f4db5b6b52a016', '766637a69fb02ec5', 'a0edeccc508b5d50', '6084e76131fc8c63',
          '33c3ecdafbb4710d']
ACTIONS = {'assistant', 'camera move', 'cautery', 'clip', 'cold cut', 'extraction', 'fluorescence', 'hook', 'hot cut',
           'idle', 'mesh', 'other', 'push/peel', 'retraction', 'sponge', 'spread', 'stapler', 'tube', 'tug'}


def _scripts():
    from halsted_hf.data.synthetic import plan_atlas

    return plan_atlas(6, 1.0, seed=3)


def digests():
    from halsted_hf.data.synthetic import VideoRenderer

    out = []
    for script in _scripts():
        h = hashlib.sha256()
        for frame in VideoRenderer(script, (64, 48)).frames():
            h.update(frame.tobytes())
        out.append(h.hexdigest()[:16])
    return out


def test_the_pinned_videos_show_every_dissection_action():
    assert {a.tags["action"] for s in _scripts() for a in s.actions} == ACTIONS


def test_rendered_pixels_are_unchanged():
    assert digests() == PINNED
