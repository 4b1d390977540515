"""A word-level tokenizer over the taxonomy: instructions and tags share one vocabulary (as in the paper).

Words are whitespace-separated (case kept: "IMA harvest"); the en dash of co-occurring items ("bipolar
forceps–monopolar scissors") is a word of its own, so every category is an exact word sequence.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

from transformers import PreTrainedTokenizer

from .taxonomy import BOS, EOS, PAD, UNK, category_words, join_words, load_taxonomy

VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}


class HalstedTokenizer(PreTrainedTokenizer):
    """Word-level tokenizer. `HalstedTokenizer()` builds the paper's vocabulary; `from_taxonomy(t)` a custom one."""

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: Optional[str] = None, taxonomy: Optional[dict] = None, **kwargs):
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as f:
                self.vocab: Dict[str, int] = json.load(f)
        else:
            self.vocab = {w: i for i, w in enumerate(load_taxonomy(taxonomy).vocabulary())}
        self.ids_to_words = {i: w for w, i in self.vocab.items()}
        for name, token in (("pad_token", PAD), ("bos_token", BOS), ("eos_token", EOS), ("unk_token", UNK)):
            kwargs.setdefault(name, token)
        super().__init__(**kwargs)

    @classmethod
    def from_taxonomy(cls, taxonomy) -> "HalstedTokenizer":
        return cls(taxonomy=load_taxonomy(taxonomy).to_dict())

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> Dict[str, int]:
        return dict(self.vocab)

    def _tokenize(self, text: str, **kwargs) -> List[str]:
        return category_words(text)

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab[UNK])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_words.get(int(index), UNK)

    def convert_tokens_to_string(self, tokens: List[str]) -> str:
        return join_words(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False, indent=1)
        return (path,)
