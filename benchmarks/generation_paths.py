"""The model's own greedy loop vs GenerationMixin.generate with the grammar as a LogitsProcessor: the same tiny
model, the same inputs (decoder only, micro-activity task), in one process, calls alternating so a busy machine
slows both alike. Prints the median ms per clip of 15 calls each, at batch 1 and 32.

    python benchmarks/generation_paths.py
"""
import statistics
import time
import torch
import halsted_hf  # noqa
from halsted_hf.model.registry import create
torch.manual_seed(0)
m, p = create("tiny")
for bs in (1, 32):
    inp = p(text=["map dissection activity"] * bs)
    emb = torch.randn(bs, m.config.vision_config.hidden_size)
    t = {"own loop": [], "transformers": []}
    with torch.inference_mode():
        for _ in range(2):
            m.generate(video_embeds=emb, **inp)
            m.generate(video_embeds=emb, **inp, do_sample=False)
        for _ in range(15):
            for name, extra in (("own loop", {}), ("transformers", {"do_sample": False})):
                s = time.perf_counter()
                m.generate(video_embeds=emb, **inp, **extra)
                t[name].append(time.perf_counter() - s)
    print(bs, {k: round(1000 * statistics.median(v) / bs, 2) for k, v in t.items()}, "ms/clip (median of 15)")
