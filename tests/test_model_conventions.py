"""The transformers conventions the model keeps: the tower from AutoModel.from_config, a named projector,
attention through transformers' dispatch, a base_model_prefix that names a real attribute, and the grammar as a
LogitsProcessor so transformers' own generate() arguments work."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from halsted_hf.model import HALSTED_TAXONOMY, HalstedForConditionalGeneration, HalstedProcessor, HalstedTokenizer
from halsted_hf.model import tiny_config
from halsted_hf.model.modeling_halsted import HalstedMultiModalProjector, TaskGrammarLogitsProcessor
from halsted_hf.model.taxonomy import TaskGrammar

INSTRUCTIONS = [t.instruction for t in HALSTED_TAXONOMY.tasks]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = HalstedForConditionalGeneration(tiny_config()).eval()
    processor = HalstedProcessor(HalstedTokenizer(taxonomy=model.config.taxonomy), image_size=112,
                                 taxonomy=model.config.taxonomy)
    torch.manual_seed(1)
    embeds = torch.randn(len(INSTRUCTIONS), model.config.vision_config.hidden_size)
    return model, processor, {"video_embeds": embeds, **processor(text=INSTRUCTIONS)}


def test_tower_projector_and_base_model_prefix(tiny):
    model, _, _ = tiny
    assert type(model.video_encoder) is type(AutoModel.from_config(model.config.vision_config))
    assert isinstance(model.video_proj, HalstedMultiModalProjector)
    assert hasattr(model, model.base_model_prefix) and model.base_model is getattr(model, model.base_model_prefix)
    assert type(model)._supports_sdpa and model.config._attn_implementation == "sdpa"


def test_attention_goes_through_the_dispatch(tiny):
    model, _, inputs = tiny
    calls = []

    def counting(module, query, key, value, attention_mask, **kwargs):
        calls.append(module)
        return ALL_ATTENTION_FUNCTIONS["sdpa"](module, query, key, value, attention_mask, **kwargs)

    ALL_ATTENTION_FUNCTIONS.register("halsted_test_counting", counting)
    sdpa = model.generate(**inputs)
    try:
        model.config._attn_implementation = "halsted_test_counting"
        counted = model.generate(**inputs)
        model.config._attn_implementation = "eager"
        eager = model.generate(**inputs)
    finally:
        model.config._attn_implementation = "sdpa"
    assert len(calls) >= model.config.num_hidden_layers
    assert torch.equal(counted.sequences, sdpa.sequences) and torch.equal(eager.sequences, sdpa.sequences)
    assert torch.allclose(eager.token_probs, sdpa.token_probs, atol=1e-5)


def test_transformers_generate_arguments_give_the_same_greedy_tags(tiny):
    model, processor, inputs = tiny
    own = model.generate(**inputs)
    out = model.generate(**inputs, output_scores=True, return_dict_in_generate=True)
    assert torch.equal(out.sequences, own.sequences[:, : out.sequences.shape[1]])
    steps = out.generation.scores  # transformers' own per-step logits ride along
    assert len(steps) == out.sequences.shape[1] - 1 and steps[0].shape == (len(INSTRUCTIONS), model.config.vocab_size)
    assert processor.parse(out.sequences) == own.tags
    # tags and scores come read, and mean what the greedy loop's mean
    assert out.tags == own.tags
    for a, b in zip(out.scores, own.scores):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-5 for k in a)
    for a, b in zip(out.distributions, own.distributions):
        assert a.keys() == b.keys()
        assert all(a[tag] == pytest.approx(b[tag], abs=1e-5) for tag in a)


@pytest.mark.parametrize("kwargs", [dict(num_beams=3, num_return_sequences=2), dict(do_sample=True, top_k=5)])
def test_beams_and_sampling_stay_inside_the_grammar(tiny, kwargs):
    model, processor, inputs = tiny
    torch.manual_seed(0)
    out = model.generate(**inputs, **kwargs)
    per_row = kwargs.get("num_return_sequences", 1)
    vocab = processor.tokenizer.get_vocab()
    assert out.sequences.shape[0] == len(out.tags) == len(out.scores) == len(INSTRUCTIONS) * per_row
    assert out.generation is None  # no return_dict_in_generate: nothing of transformers' own to carry
    for i, row in enumerate(out.sequences.tolist()):
        task = HALSTED_TAXONOMY.task(INSTRUCTIONS[i // per_row])
        row = row[1: row.index(model.config.eos_token_id) + 1]
        assert TaskGrammar(task, vocab).is_valid(row), processor.tokenizer.convert_ids_to_tokens(row)
        # every sequence comes with its tags read and a probability per emitted tag
        assert out.tags[i] == processor.parse(out.sequences[i:i + 1])[0] and out.tags[i]
        assert set(out.scores[i]) == set(out.tags[i]) and all(0.0 < p <= 1.0 for p in out.scores[i].values())


def test_the_grammar_processor_masks_what_the_task_forbids(tiny):
    model, processor, _ = tiny
    vocab = processor.tokenizer.get_vocab()
    grammar = TaskGrammar(HALSTED_TAXONOMY.task("proficiency"), vocab)
    scores = torch.zeros(2, model.config.vocab_size)
    ids = torch.tensor([[model.config.bos_token_id], [model.config.bos_token_id]])
    masked = TaskGrammarLogitsProcessor([grammar, None], model.config.eos_token_id)(ids, scores)
    assert set(torch.isfinite(masked[0]).nonzero().flatten().tolist()) == set(grammar.allowed([]))
    assert torch.isfinite(masked[1]).all()  # an unconstrained row is left alone
