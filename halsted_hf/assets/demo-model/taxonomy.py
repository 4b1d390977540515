"""The surgical tasks, tags and categories Halsted maps (Table 3 of the paper), and their output grammar.

A taxonomy is data: `Taxonomy.from_json` loads a custom one (RARP-50's 8 suturing actions, CholecT50's
phases, ...) exactly like the built-in `HALSTED_TAXONOMY`. Everything that needs words (the tokenizer's
vocabulary, the constrained decoder's grammar, the parser) is derived from a taxonomy here, so the model
files stay in sync with it.

This file is copied flat next to the model code by `save_pretrained` (the Hub layout): no package imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .plans import FULL, MappingPlan, default_plans, halsted_plans, plans_from_list

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
# Co-occurring items ("bipolar forceps–monopolar scissors") are joined by an en dash; it is its own word.
CO_OCCURRENCE = "–"


def category_words(category: str) -> List[str]:
    """Split a category into the words the tokenizer knows: whitespace, with the en dash as a word.
    Case is kept: "IMA harvest" must come back exactly."""
    return category.replace(CO_OCCURRENCE, f" {CO_OCCURRENCE} ").split()


def join_words(words: Sequence[str]) -> str:
    """Inverse of `category_words`."""
    return " ".join(words).replace(f" {CO_OCCURRENCE} ", CO_OCCURRENCE)


def open_tag(tag: str) -> str:
    return f"<{tag}>"


def close_tag(tag: str) -> str:
    return f"</{tag}>"


@dataclass(frozen=True)
class Task:
    """One mapping task: an instruction and the ordered tags its output may carry."""

    name: str
    instruction: str
    tags: Dict[str, Tuple[str, ...]]  # tag -> categories, in output order
    description: str = ""

    def categories(self, tag: str) -> Tuple[str, ...]:
        return self.tags[tag]

    def format_target(self, tags: Dict[str, str]) -> str:
        """Render tags as the model's target text, in the task's tag order: `<action> hook </action> ...`."""
        unknown = set(tags) - set(self.tags)
        if unknown:
            raise ValueError(f"task {self.name!r} has no tag(s) {sorted(unknown)}; it has {list(self.tags)}")
        parts = []
        for tag in self.tags:
            if tag in tags and tags[tag] is not None:
                category = tags[tag]
                if category not in self.tags[tag]:
                    raise ValueError(f"{category!r} is not a category of tag {tag!r} in task {self.name!r}")
                parts += [open_tag(tag), *category_words(category), close_tag(tag)]
        return " ".join(parts)


@dataclass
class Taxonomy:
    name: str
    tasks: List[Task]
    specialty_of_procedure: Dict[str, str] = field(default_factory=dict)
    # the mapping plans it declares (plans.py); none declared: the Halsted taxonomy's own, else `default_plans`
    plans: Dict[str, MappingPlan] = field(default_factory=dict)

    # ---- mapping plans --------------------------------------------------------------------------
    def mapping_plans(self) -> Dict[str, MappingPlan]:
        """What a model of this taxonomy maps: name -> plan, in the order front ends show them."""
        if self.plans:
            return dict(self.plans)
        if self.name == "halsted":
            return halsted_plans()
        return default_plans({t.name: tuple(t.tags) for t in self.tasks})

    def plan(self, name: str) -> MappingPlan:
        plans = self.mapping_plans()
        if name not in plans:
            shown = repr(str(name)[:60]) + (" (cut)" if len(str(name)) > 60 else "")
            raise KeyError(f"Unknown mapping {shown}: this model maps {', '.join(plans)}")
        return plans[name]

    # ---- lookup -------------------------------------------------------------------------------
    @property
    def task_names(self) -> List[str]:
        return [t.name for t in self.tasks]

    def task(self, name_or_instruction: str) -> Task:
        """Find a task by name ("micro-activity") or instruction ("map dissection activity")."""
        key = name_or_instruction.strip().lower()
        for task in self.tasks:
            if key in (task.name.lower(), task.instruction.lower()):
                return task
        choices = ", ".join(f"{t.name!r} ({t.instruction!r})" for t in self.tasks)
        raise KeyError(f"unknown task {name_or_instruction!r}; known tasks: {choices}")

    def task_of_tag(self, tag: str) -> Task:
        for task in self.tasks:
            if tag in task.tags:
                return task
        raise KeyError(f"unknown tag {tag!r}")

    @property
    def all_tags(self) -> List[str]:
        return [tag for task in self.tasks for tag in task.tags]

    # ---- vocabulary ---------------------------------------------------------------------------
    def vocabulary(self) -> List[str]:
        """One joint, deterministic word vocabulary: specials, tag markers, instruction words, category words."""
        words: List[str] = list(SPECIAL_TOKENS)
        seen = set(words)

        def add(items: Iterable[str]) -> None:
            for w in items:
                if w not in seen:
                    seen.add(w)
                    words.append(w)

        for task in self.tasks:
            add(w for tag in task.tags for w in (open_tag(tag), close_tag(tag)))
        for task in self.tasks:
            add(task.instruction.split())
        for task in self.tasks:
            for cats in task.tags.values():
                for cat in cats:
                    add(category_words(cat))
        return words

    # ---- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "tasks": [
                # tags as a list, not a dict: JSON writers that sort keys (transformers' configs do)
                # must not reorder tags, since the output grammar and the vocabulary follow their order
                {"name": t.name, "instruction": t.instruction, "description": t.description,
                 "tags": [{"name": tag, "categories": list(cats)} for tag, cats in t.tags.items()]}
                for t in self.tasks
            ],
            "specialty_of_procedure": dict(self.specialty_of_procedure),
            **({"plans": [p.to_dict() for p in self.plans.values()]} if self.plans else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Taxonomy":
        try:
            tasks = [
                Task(name=t["name"], instruction=t["instruction"], description=t.get("description", ""),
                     tags=_tags_from_json(t["tags"]))
                for t in data["tasks"]
            ]
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError("not a taxonomy: expected {'name', 'tasks': [{'name', 'instruction', 'tags'}]} "
                             f"({err})") from err
        taxonomy = cls(name=data.get("name", "custom"), tasks=tasks,
                       specialty_of_procedure=dict(data.get("specialty_of_procedure", {})),
                       plans=plans_from_list(data.get("plans")))
        taxonomy.validate()
        return taxonomy

    def to_json(self, path: Optional[str] = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, path_or_text: str) -> "Taxonomy":
        text = path_or_text
        if not path_or_text.lstrip().startswith("{"):
            with open(path_or_text, encoding="utf-8") as f:
                text = f.read()
        return cls.from_dict(json.loads(text))

    def validate(self) -> None:
        names, instructions, tags = set(), set(), set()
        for task in self.tasks:
            if task.name in names or task.instruction in instructions:
                raise ValueError(f"duplicate task name or instruction: {task.name!r}")
            names.add(task.name)
            instructions.add(task.instruction)
            if not task.tags:
                raise ValueError(f"task {task.name!r} has no tags")
            for tag, cats in task.tags.items():
                if tag in tags:
                    raise ValueError(f"tag {tag!r} appears in two tasks; tags must be unique")
                tags.add(tag)
                if not cats or len(set(cats)) != len(cats):
                    raise ValueError(f"tag {tag!r} needs distinct, non-empty categories")
        if self.plans and FULL not in self.plans:
            raise ValueError(f"the taxonomy declares mapping plans {list(self.plans)} but none named {FULL!r} "
                             f"(everything its model maps); add one")
        tags_of_task = {t.name: tuple(t.tags) for t in self.tasks}
        for plan in self.mapping_plans().values():
            plan.check(tags_of_task)


def _tags_from_json(tags) -> Dict[str, Tuple[str, ...]]:
    """Tags as `[{"name", "categories"}]` (what `to_dict` writes) or, hand-written, as `{tag: [categories]}`."""
    if isinstance(tags, dict):
        return {tag: tuple(cats) for tag, cats in tags.items()}
    return {t["name"]: tuple(t["categories"]) for t in tags}


class TaskGrammar:
    """The language of one task's output, over token ids: `(<tag> word+ </tag>)+ <eos>`, tags in order.

    A clip may carry only some of its task's tags, but at least one, each at most once and in the
    task's order; a category is a path through a word trie, so multi-word categories are exact.
    `allowed(prefix)` returns the ids that may follow a generated prefix (without BOS).
    """

    def __init__(self, task: Task, vocab: Dict[str, int]):
        self.task = task
        self.eos_id = vocab[EOS]
        self.tag_order = list(task.tags)
        self.open_ids = {vocab[open_tag(t)]: i for i, t in enumerate(self.tag_order)}
        self.close_ids = {i: vocab[close_tag(t)] for i, t in enumerate(self.tag_order)}
        # trie per tag: node (tuple of word ids) -> set of next word ids; terminals -> category name
        self.children: List[Dict[Tuple[int, ...], set]] = []
        self.terminals: List[Dict[Tuple[int, ...], str]] = []
        for tag in self.tag_order:
            children: Dict[Tuple[int, ...], set] = {}
            terminals: Dict[Tuple[int, ...], str] = {}
            for cat in task.tags[tag]:
                ids = tuple(vocab[w] for w in category_words(cat))
                for k in range(len(ids)):
                    children.setdefault(ids[:k], set()).add(ids[k])
                terminals[ids] = cat
            self.children.append(children)
            self.terminals.append(terminals)
        self.max_length = sum(2 + max(len(category_words(c)) for c in cats) for cats in task.tags.values()) + 1

    def _state(self, prefix: Sequence[int]):
        """(index of last tag opened or closed, words of the open category or None if no tag is open)."""
        last, words = -1, None
        for tok in prefix:
            if words is None:
                if tok == self.eos_id:
                    return last, "done"
                if tok not in self.open_ids or self.open_ids[tok] <= last:
                    return last, "invalid"
                last, words = self.open_ids[tok], ()
            elif tok == self.close_ids[last]:
                if words not in self.terminals[last]:
                    return last, "invalid"
                words = None
            else:
                if tok not in self.children[last].get(words, ()):
                    return last, "invalid"
                words = words + (tok,)
        return last, words

    def allowed(self, prefix: Sequence[int]) -> List[int]:
        last, words = self._state(prefix)
        if words in ("done", "invalid"):
            return [self.eos_id] if words == "done" else []
        if words is None:
            opens = [tid for tid, i in self.open_ids.items() if i > last]
            return opens + ([self.eos_id] if last >= 0 else [])
        nxt = sorted(self.children[last].get(words, ()))
        if words in self.terminals[last]:
            nxt.append(self.close_ids[last])
        return nxt

    def is_valid(self, ids: Sequence[int]) -> bool:
        """True for a complete output (ending in EOS, at least one tag) that the grammar accepts."""
        if not ids or ids[-1] != self.eos_id:
            return False
        last, words = self._state(ids[:-1])
        return words is None and last >= 0


def parse_tags(words: Sequence[str], taxonomy: Optional[Taxonomy] = None) -> Dict[str, str]:
    """Parse `<tag> words </tag> ...` into {tag: category}; ignores specials and anything malformed.

    With a taxonomy, only known categories of known tags are kept (an unconstrained model can babble).
    """
    out: Dict[str, str] = {}
    tag, buf = None, []
    for w in words:
        if w in SPECIAL_TOKENS:
            if w == EOS:
                break
            continue
        if tag is None and w.startswith("<") and w.endswith(">") and not w.startswith("</"):
            tag, buf = w[1:-1], []
        elif tag is not None and w == close_tag(tag):
            category = join_words(buf)
            if taxonomy is None or _is_category(taxonomy, tag, category):
                out.setdefault(tag, category)
            tag = None
        elif tag is not None:
            buf.append(w)
    return out


def _is_category(taxonomy: Taxonomy, tag: str, category: str) -> bool:
    try:
        return category in taxonomy.task_of_tag(tag).tags[tag]
    except KeyError:
        return False


# ------------------------------------------------------------------------------------------------
# The paper's taxonomy (Table 3). Order of categories follows the table.
# ------------------------------------------------------------------------------------------------
SPECIALTY_OF_PROCEDURE = {
    "gastric bypass": "bariatric",
    "atrial closure": "cardiac",
    "IMA harvest": "cardiac",
    "mitral stitching": "cardiac",
    "right colectomy": "colorectal",
    "total mesorectal excision": "colorectal",
    "laparoscopic cholecystectomy": "general",
    "laparoscopic hernia": "general",
    "endometriosis": "gynecology",
    "hysterectomy": "gynecology",
    "myomectomy": "gynecology",
    "pancreaticoduodenectomy": "hepatobiliary",
    "right middle lobectomy": "thoracic",
    "right upper lobectomy": "thoracic",
    "segmentectomy": "thoracic",
    "prostatectomy": "urology",
}
SPECIALTIES = ("bariatric", "cardiac", "colorectal", "general", "gynecology", "hepatobiliary", "thoracic", "urology")
PROCEDURES = tuple(SPECIALTY_OF_PROCEDURE)
STEPS = ("suturing", "dissection")
ACTIONS = ("assistant", "cold cut", "cautery", "extraction", "fluorescence", "hot cut", "hook", "idle", "clip",
           "camera move", "mesh", "push/peel", "retraction", "spread", "sponge", "stapler", "tube", "tug", "other")
ARMS = ("left", "right", "both")
INSTRUMENTS = (
    "bipolar dissector", "bipolar forceps", "bipolar forceps–cautery hook", "bipolar forceps–monopolar scissors",
    "bipolar forceps–vessel sealer", "bipolar grasper", "bipolar grasper–monopolar scissors", "cadiere forceps",
    "cadiere forceps–bipolar grasper", "cautery spatula", "cautery hook", "clip applier", "clipper",
    "fenestrated forceps", "fenestrated grasper", "fenestrated grasper–bipolar grasper", "grasper",
    "hook monopolar", "maryland grasper", "monopolar scissors", "needle driver", "prograsp forceps", "scissors",
    "shears", "stapler", "suction", "vessel sealer",
)
PHASES = ("needle handling", "driving", "withdrawal")
PROFICIENCY = ("low", "high")
ANATOMY = (
    "bile duct", "bile duct–small intestine", "bladder", "bladder–urethra", "colon", "left atrium",
    "mitral annulus", "pancreas", "pancreas–small intestine", "peritoneum", "small intestine",
    "small intestine–bile duct", "small intestine–stomach", "stomach", "stomach–small intestine", "urethra",
    "uterus", "vagina",
)
EXTENTS = ("single", "double", "surface")
DIRECTIONS = ("in", "out", "both")

HALSTED_TAXONOMY = Taxonomy(
    name="halsted",
    tasks=[
        Task("macro-activity", "map procedure type",
             {"specialty": SPECIALTIES, "procedure": PROCEDURES, "step": STEPS},
             "Task 1: specialty, procedure and surgical step of a clip."),
        Task("micro-activity", "map dissection activity",
             {"action": ACTIONS, "arm": ARMS, "instrument": INSTRUMENTS},
             "Task 2: dissection action, the robotic arm performing it, and the instrument(s)."),
        Task("proficiency", "map suturing activity",
             {"phase": PHASES, "proficiency": PROFICIENCY},
             "Task 3: suturing phase (needle handling, driving, withdrawal) and its proficiency."),
        Task("context", "map needle driving activity",
             {"anatomy": ANATOMY, "extent": EXTENTS, "direction": DIRECTIONS},
             "Task 4: anatomy targeted by a needle driving, the extent of the stitch and its direction."),
    ],
    specialty_of_procedure=SPECIALTY_OF_PROCEDURE,
)
HALSTED_TAXONOMY.validate()


def load_taxonomy(spec: "Optional[str | dict | Taxonomy]" = None) -> Taxonomy:
    """`None` or "halsted" -> the paper's taxonomy; a dict, JSON text or JSON path -> a custom one."""
    if spec is None or spec == "halsted":
        return HALSTED_TAXONOMY
    if isinstance(spec, Taxonomy):
        return spec
    if isinstance(spec, dict):
        return Taxonomy.from_dict(spec)
    return Taxonomy.from_json(spec)
