"""The Halsted transformers model: sizes, the prefix-LM mask, the loss, constrained generation, saving and
loading (Auto classes and remote code), the VideoMAEv2 converter and the causal-LM decoder variant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from halsted_hf import (HALSTED_TAXONOMY, HalstedConfig, HalstedForConditionalGeneration, HalstedProcessor,
                        HalstedTokenizer, Taxonomy, tiny_config)
from halsted_hf.model.taxonomy import TaskGrammar

INSTRUCTIONS = [t.instruction for t in HALSTED_TAXONOMY.tasks]


def make(seed=0, **overrides):
    torch.manual_seed(seed)
    model = HalstedForConditionalGeneration(tiny_config(**overrides)).eval()
    processor = HalstedProcessor(HalstedTokenizer(taxonomy=model.config.taxonomy), image_size=112,
                                 taxonomy=model.config.taxonomy)
    return model, processor


def clips(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (16, 48, 64, 3), dtype=np.uint8) for _ in range(n)]


def test_taxonomy_has_every_category_of_table_3():
    sizes = {tag: len(c) for task in HALSTED_TAXONOMY.tasks for tag, c in task.tags.items()}
    assert sizes == {"specialty": 8, "procedure": 16, "step": 2, "action": 19, "arm": 3, "instrument": 27,
                     "phase": 3, "proficiency": 2, "anatomy": 18, "extent": 3, "direction": 3}
    assert [t.instruction for t in HALSTED_TAXONOMY.tasks] == [
        "map procedure type", "map dissection activity", "map suturing activity", "map needle driving activity"]
    assert (set(HALSTED_TAXONOMY.specialty_of_procedure.values())
            == set(HALSTED_TAXONOMY.task("macro-activity").tags["specialty"]))


def test_custom_taxonomy_round_trips_through_json(tmp_path):
    custom = {"name": "rarp", "tasks": [{"name": "gesture", "instruction": "map suturing gesture",
                                          "tags": {"gesture": ["pick up needle", "tie knot", "other"]}}]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(custom))
    tax = Taxonomy.from_json(str(path))
    assert Taxonomy.from_json(tax.to_json()).to_dict() == tax.to_dict()
    assert tax.task("map suturing gesture").tags["gesture"] == ("pick up needle", "tie knot", "other")
    model, processor = make(taxonomy=tax.to_dict())
    out = model.generate(**processor(videos=clips(2), text=["gesture"] * 2))
    assert all(set(t) <= {"gesture"} and t for t in out.tags)
    with pytest.raises(ValueError, match="not a taxonomy"):
        Taxonomy.from_dict({"tasks": [{"name": "x"}]})


def test_paper_config_parameter_counts_on_meta_device():
    config = HalstedConfig()
    v = config.vision_config
    assert (v.hidden_size, v.num_hidden_layers, v.num_attention_heads, v.intermediate_size, v.patch_size,
            v.tubelet_size, v.num_frames, v.image_size) == (1408, 40, 16, 6144, 14, 2, 16, 224)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.num_instruction_slots) == (1408, 2, 8, 8)
    with torch.device("meta"):
        model = HalstedForConditionalGeneration(config)
    encoder = sum(p.numel() for p in model.video_encoder.parameters())
    decoder = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("video_encoder."))
    assert abs(encoder / 1.01e9 - 1) < 0.02, encoder
    assert abs(decoder / 44e6 - 1) < 0.05, decoder
    assert not any(p.requires_grad for p in model.video_encoder.parameters())  # frozen, as in the paper


def test_prefix_lm_mask_later_tags_never_change_earlier_positions():
    model, processor = make()
    inputs = processor(videos=clips(1), text="map dissection activity")
    video = model.get_video_features(inputs["pixel_values"])
    tok = processor.tokenizer
    ids = torch.tensor([[model.config.bos_token_id] + tok("<action> hook </action> <arm> left </arm>",
                                                          add_special_tokens=False)["input_ids"]])
    changed = ids.clone()
    changed[0, -2] = tok.convert_tokens_to_ids("right")
    kw = dict(video_embeds=video, instruction_ids=inputs["instruction_ids"],
              instruction_mask=inputs["instruction_mask"])
    a = model(decoder_input_ids=ids, **kw)
    b = model(decoder_input_ids=changed, **kw)
    k = ids.shape[1] - 2  # the changed position
    assert torch.allclose(a.logits[:, :k], b.logits[:, :k], atol=1e-6)
    assert torch.allclose(a.hidden_states[:, : -2], b.hidden_states[:, : -2], atol=1e-6)  # prefix untouched too
    assert not torch.allclose(a.logits[:, k:], b.logits[:, k:])
    # the video and the instruction are visible to every tag position
    c = model(decoder_input_ids=ids, **{**kw, "video_embeds": video + 1.0})
    assert not torch.allclose(a.logits[:, 0], c.logits[:, 0])
    other = processor(text="map suturing activity")
    d = model(decoder_input_ids=ids, video_embeds=video, **other)
    assert not torch.allclose(a.logits[:, 0], d.logits[:, 0])


def test_loss_is_over_tag_tokens_only():
    model, processor = make()
    tags = [{"action": "hook", "instrument": "bipolar forceps–cautery hook"}, {"arm": "left"}]
    inputs = processor(videos=clips(2), text=["micro-activity"] * 2, tags=tags)
    labels = inputs["labels"]
    assert (labels[1] == -100).sum() > (labels[0] == -100).sum()  # the second target is shorter: padded
    out = model(**inputs)
    valid = labels != -100
    manual = torch.nn.functional.cross_entropy(out.logits[valid], labels[valid])
    assert torch.allclose(out.loss, manual, atol=1e-6)
    # logits exist only for tag positions: instructions and the video are never predicted
    assert out.logits.shape[1] == labels.shape[1]
    # a different instruction changes the inputs but the loss still only counts tag tokens
    longer = processor(videos=clips(2), text=["micro-activity"] * 2, tags=tags, max_tag_length=30)
    assert torch.allclose(model(**longer).loss, out.loss, atol=1e-5)  # extra padding changes nothing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constrained_generation_yields_only_valid_sequences(seed):
    model, processor = make(seed=seed)
    vocab = processor.tokenizer.get_vocab()
    inputs = processor(videos=clips(8, seed), text=INSTRUCTIONS * 2)
    out = model.generate(**inputs)
    for i, instruction in enumerate(INSTRUCTIONS * 2):
        task = HALSTED_TAXONOMY.task(instruction)
        row = out.sequences[i, 1:].tolist()
        row = row[: row.index(model.config.eos_token_id) + 1]
        assert TaskGrammar(task, vocab).is_valid(row), processor.tokenizer.convert_ids_to_tokens(row)
        assert out.tags[i] and set(out.tags[i]) <= set(task.tags)
        for tag, category in out.tags[i].items():
            assert category in task.tags[tag]
            assert 0.0 < out.scores[i][tag] <= 1.0
        for tag, dist in out.distributions[i].items():
            assert abs(sum(dist.values()) - 1.0) < 1e-4 and max(dist, key=dist.get) == out.tags[i][tag]
    assert processor.parse(out.sequences) == out.tags


def test_kv_cache_and_video_embeds_give_the_same_generation():
    model, processor = make()
    inputs = processor(videos=clips(4), text=INSTRUCTIONS)
    cached = model.generate(**inputs)
    uncached = model.generate(**inputs, use_cache=False)
    assert torch.equal(cached.sequences, uncached.sequences)
    assert torch.allclose(cached.token_probs, uncached.token_probs, atol=1e-5)
    embeds = model.get_video_features(inputs["pixel_values"])
    from_embeds = model.generate(video_embeds=embeds, instruction_ids=inputs["instruction_ids"],
                                 instruction_mask=inputs["instruction_mask"])
    assert torch.equal(cached.sequences, from_embeds.sequences)
    free = model.generate(**inputs, constrained=False, max_new_tokens=6)
    assert free.sequences.shape[1] <= 7


def test_save_and_load_with_auto_classes_give_identical_generations(tmp_path):
    from transformers import AutoConfig, AutoModel, AutoProcessor, AutoTokenizer

    model, processor = make()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]["AutoModel"].startswith("modeling_halsted.")
    for f in ("modeling_halsted.py", "configuration_halsted.py", "taxonomy.py", "tokenization_halsted.py",
              "processing_halsted.py"):
        assert (tmp_path / f).exists(), f
    assert isinstance(AutoConfig.from_pretrained(tmp_path), HalstedConfig)
    assert isinstance(AutoTokenizer.from_pretrained(tmp_path), HalstedTokenizer)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded_processor, HalstedProcessor) and loaded_processor.image_size == 112
    a = model.generate(**processor(videos=clips(4), text=INSTRUCTIONS))
    b = loaded.generate(**loaded_processor(videos=clips(4), text=INSTRUCTIONS))
    assert torch.equal(a.sequences, b.sequences) and a.tags == b.tags


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "lite_model_dir"])
def test_remote_code_loads_where_halsted_hf_is_not_importable(fixture, request):
    """Both towers: VideoMAE (tiny) and the pretrained EfficientNet-Lite0 frame encoder (its config and model
    files travel flat next to the weights and register themselves with the Auto classes)."""
    tiny_model_dir = request.getfixturevalue(fixture)
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "halsted_hf" or name.startswith("halsted_hf."):
                    raise ImportError("halsted_hf is blocked in this test")
        sys.meta_path.insert(0, Block())
        try:
            import halsted_hf
            raise SystemExit("halsted_hf should not be importable here")
        except ImportError:
            pass
        import numpy as np
        from transformers import AutoModel, AutoProcessor
        model = AutoModel.from_pretrained({tiny_model_dir!r}, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained({tiny_model_dir!r}, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        assert type(model.video_encoder).__module__.startswith("transformers_modules") or \
            type(model.video_encoder).__name__ == "VideoMAEModel", type(model.video_encoder)
        print("TOWER", type(model.video_encoder).__name__, model.config.vision_config.model_type)
        out = model.generate(**processor(videos=np.zeros((16, 32, 32, 3), np.uint8), text="map suturing activity"))
        assert out.tags[0] and set(out.tags[0]) <= {{"phase", "proficiency"}}, out.tags
        print("TAGS", out.tags[0])
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": os.path.join(tiny_model_dir, "..", "modules")}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd="/")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "TAGS" in res.stdout
    tower = {"tiny_model_dir": "VideoMAEModel videomae", "lite_model_dir": "EfficientNetLiteModel efficientnet_lite"}
    assert f"TOWER {tower[fixture]}" in res.stdout


def _timm_state_dict_from(encoder) -> dict:
    """Build a VideoMAEv2 (timm-style) state dict from a transformers encoder: fused qkv, q_bias/v_bias."""
    sd = encoder.state_dict()
    out = {"encoder.patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
           "encoder.patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
           "head.weight": torch.zeros(5, encoder.config.hidden_size)}
    for i in range(encoder.config.num_hidden_layers):
        p, a = f"encoder.layer.{i}.", f"encoder.blocks.{i}."
        out[a + "attn.qkv.weight"] = torch.cat([sd[p + f"attention.attention.{n}.weight"]
                                                for n in ("query", "key", "value")])
        out[a + "attn.q_bias"] = sd[p + "attention.attention.query.bias"]
        out[a + "attn.v_bias"] = sd[p + "attention.attention.value.bias"]
        for timm, hf in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                         ("attn.proj", "attention.output.dense"), ("mlp.fc1", "intermediate.dense"),
                         ("mlp.fc2", "output.dense")):
            out[a + timm + ".weight"] = sd[p + hf + ".weight"]
            out[a + timm + ".bias"] = sd[p + hf + ".bias"]
    return out


def test_videomae_v2_converter_splits_fused_qkv(tmp_path):
    from halsted_hf.model.convert_videomae import load_videomae_v2
    from halsted_hf.core.errors import CheckpointError

    source, _ = make(seed=1)
    target, processor = make(seed=2)
    torch.save({"model": _timm_state_dict_from(source.video_encoder)}, tmp_path / "videomaev2.pth")
    x = processor(videos=clips(2))["pixel_values"]
    assert not torch.allclose(source.get_video_features(x), target.get_video_features(x))
    dropped = load_videomae_v2(target, str(tmp_path / "videomaev2.pth"))
    assert dropped == ["head.weight"]
    assert torch.allclose(source.get_video_features(x), target.get_video_features(x), atol=1e-5)
    bigger, _ = make(vision_config={"hidden_size": 96, "num_attention_heads": 2})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_videomae_v2(bigger, str(tmp_path / "videomaev2.pth"))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_videomae_v2(target, str(tmp_path / "missing.pth"))


def test_causal_lm_decoder_variant_with_a_tiny_llama(tmp_path):
    from transformers import AutoModel, LlamaConfig

    llama = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, max_position_embeddings=64).to_dict()
    model, processor = make(decoder_type="causal_lm", text_config=llama)
    assert type(model.language_model).__name__ == "LlamaForCausalLM"
    inputs = processor(videos=clips(4), text=INSTRUCTIONS,
                       tags=[{"step": "suturing"}, {"action": "hook"}, {"phase": "driving"}, {"extent": "single"}])
    loss = model(**inputs).loss
    loss.backward()
    assert torch.isfinite(loss) and model.video_proj[0].weight.grad is not None
    gen_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    out = model.generate(**gen_inputs)
    assert all(t and set(t) <= set(HALSTED_TAXONOMY.task(i).tags) for t, i in zip(out.tags, INSTRUCTIONS))
    assert torch.equal(out.sequences, model.generate(**gen_inputs, use_cache=False).sequences)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert torch.equal(out.sequences, loaded.generate(**gen_inputs).sequences)


def test_processor_resizes_normalises_and_resamples_frames():
    _, processor = make()
    frames = np.full((30, 37, 53, 3), 255, np.uint8)
    pv = processor(videos=frames)["pixel_values"]
    assert pv.shape == (1, 16, 3, 112, 112)
    expected = (1.0 - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)
    assert torch.allclose(pv[0, 0, :, 5, 5], expected, atol=1e-4)
    with pytest.raises(ValueError, match="T, H, W, 3"):
        processor(videos=np.zeros((16, 32, 32), np.uint8))
    with pytest.raises(KeyError, match="unknown task"):
        processor(text="map knitting activity")


def test_init_model_cli_writes_a_loadable_hub_layout(tmp_path):
    out = tmp_path / "m"
    res = subprocess.run([sys.executable, "-m", "halsted_hf.cli", "init-model", str(out), "--preset", "tiny"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "random" in (out / "README.md").read_text()
    from halsted_hf.model.registry import create

    model, processor = create(str(out))
    assert model.generate(**processor(videos=clips(1), text="map procedure type")).tags[0]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    from halsted_hf.core.errors import CheckpointError
    from halsted_hf.model.registry import create

    with pytest.raises(CheckpointError, match="no model folder"):
        create(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        create(str(tmp_path / "empty"))
    res = subprocess.run([sys.executable, "-m", "halsted_hf.cli", "convert-videomae", str(tmp_path / "x.pth"),
                          str(tmp_path / "nope")], capture_output=True, text=True)
    assert res.returncode == 2 and "error:" in res.stderr and "Traceback" not in res.stderr
