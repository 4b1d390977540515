"""Mapping plans: what a model maps, declared by the taxonomy it carries.

A plan has two stages. Stage 1 asks `stage1_task` of windows of `stage1_window_s` that tile the whole video.
Stage 2 maps short windows (`stage2_window_s`) inside the stage-1 windows whose answer to `stage1_tag` opens
stage-2 tasks (`stage2`: answer -> tasks, `ANY` for every answer). A follow-up asks one more task of the
stage-2 windows whose answer to a tag is one category (Halsted: the context of needle driving).
`extend_into`: a stage-1 answer whose stage-2 windows may reach into a neighbouring window, clip by clip,
where stage 1's long window missed its start or end (Halsted: suturing, whose stitches a summary counts).

Every taxonomy has a plan named `full` (everything its model maps). A taxonomy that declares none gets
`default_plans`: stage 1 asks its first task, stage 2 its other tasks everywhere.

This file is copied flat next to the model code by `save_pretrained` (the Hub layout): no package imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

ANY = "*"  # a stage-2 rule for every stage-1 answer
FULL = "full"  # the plan every taxonomy has
STAGE1_WINDOW_S = 30.0
STAGE2_WINDOW_S = 2.5


@dataclass(frozen=True)
class FollowUp:
    """After `task`, ask `then` of the windows whose `tag` is `category`."""

    task: str
    tag: str
    category: str
    then: str


@dataclass(frozen=True)
class MappingPlan:
    name: str
    description: str
    stage1_task: str
    stage1_tag: str
    stage1_window_s: float = STAGE1_WINDOW_S
    stage2: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  # (stage-1 answer or ANY, stage-2 tasks)
    stage2_window_s: float = STAGE2_WINDOW_S
    follow_ups: Tuple[FollowUp, ...] = ()
    extend_into: Optional[str] = None

    def stage2_tasks(self, answer: Optional[str]) -> Tuple[str, ...]:
        """The stage-2 tasks a stage-1 answer opens (none: its time is not mapped in detail)."""
        rules = dict(self.stage2)
        if answer in rules:
            return rules[answer]
        return rules.get(ANY, ()) if answer is not None else ()

    def opens(self, answer: Optional[str]) -> bool:
        return bool(self.stage2_tasks(answer))

    @property
    def has_stage2(self) -> bool:
        return bool(self.stage2)

    @property
    def tasks(self) -> Tuple[str, ...]:
        """Every task the plan asks, in order: stage 1, stage 2, follow-ups."""
        out = [self.stage1_task]
        for _, tasks in self.stage2:
            out += [t for t in tasks if t not in out]
        out += [f.then for f in self.follow_ups if f.then not in out]
        return tuple(out)

    def follow_up(self, task: str, tags: Dict[str, str]) -> Optional[str]:
        """The task to ask next of a stage-2 window that `task` answered with `tags`, if any."""
        return next((f.then for f in self.follow_ups if f.task == task and tags.get(f.tag) == f.category), None)

    def extends(self) -> Optional[str]:
        """The stage-1 answer whose clips reach into neighbouring windows, when this plan maps it."""
        return self.extend_into if self.extend_into is not None and self.opens(self.extend_into) else None

    # ---- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"name": self.name, "description": self.description,
               "stage1": {"task": self.stage1_task, "tag": self.stage1_tag, "window_s": self.stage1_window_s}}
        if self.stage2:
            out["stage2"] = {"window_s": self.stage2_window_s,
                             "when": [{"answer": a, "tasks": list(t)} for a, t in self.stage2]}
        if self.follow_ups:
            out["follow_ups"] = [vars(f).copy() for f in self.follow_ups]
        if self.extend_into is not None:
            out["extend_into"] = self.extend_into
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "MappingPlan":
        try:
            s1, s2 = data["stage1"], data.get("stage2") or {}
            return cls(name=str(data["name"]), description=str(data.get("description", "")),
                       stage1_task=str(s1["task"]), stage1_tag=str(s1["tag"]),
                       stage1_window_s=float(s1.get("window_s", STAGE1_WINDOW_S)),
                       stage2=tuple((str(w["answer"]), tuple(str(t) for t in w["tasks"])) for w in s2.get("when", ())),
                       stage2_window_s=float(s2.get("window_s", STAGE2_WINDOW_S)),
                       follow_ups=tuple(FollowUp(str(f["task"]), str(f["tag"]), str(f["category"]), str(f["then"]))
                                        for f in data.get("follow_ups", ())),
                       extend_into=data.get("extend_into"))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"not a mapping plan: expected {{'name', 'stage1': {{'task', 'tag'}}, 'stage2': "
                             f"{{'window_s', 'when': [{{'answer', 'tasks'}}]}}}} ({err!r})") from err

    def check(self, tags_of_task: Dict[str, Iterable[str]]) -> None:
        """ValueError unless every task and tag the plan names is one of `tags_of_task` (task -> its tags) and
        the windows are usable."""
        where = f"mapping plan {self.name!r}"
        for task in self.tasks:
            if task not in tags_of_task:
                raise ValueError(f"{where} asks task {task!r}, which the taxonomy does not have")
        if self.stage1_tag not in tags_of_task[self.stage1_task]:
            raise ValueError(f"{where}: task {self.stage1_task!r} has no tag {self.stage1_tag!r}")
        for f in self.follow_ups:
            if f.tag not in tags_of_task[f.task]:
                raise ValueError(f"{where}: task {f.task!r} has no tag {f.tag!r}")
        if not (0 < self.stage2_window_s <= self.stage1_window_s):
            raise ValueError(f"{where}: windows must satisfy 0 < stage 2 ({self.stage2_window_s:g} s) <= stage 1 "
                             f"({self.stage1_window_s:g} s)")


def halsted_plans() -> Dict[str, MappingPlan]:
    """The Halsted taxonomy's four mappings, in the order every front end shows them."""
    suturing = (("suturing", ("proficiency",)),)
    dissection = (("dissection", ("micro-activity",)),)
    context = (FollowUp("proficiency", "phase", "driving", "context"),)  # the target of each needle driving
    common = dict(stage1_task="macro-activity", stage1_tag="step")
    plans = (
        MappingPlan("suturing", "Suturing: stitches, phases, proficiency, anatomy targets and directions",
                    stage2=suturing, follow_ups=context, extend_into="suturing", **common),
        MappingPlan("dissection", "Dissection: actions, instruments and arms", stage2=dissection, **common),
        MappingPlan(FULL, "Full: suturing and dissection", stage2=suturing + dissection, follow_ups=context,
                    extend_into="suturing", **common),
        MappingPlan("procedure", "Procedure: the coarse steps of the whole video only", **common),
    )
    return {p.name: p for p in plans}


def default_plans(task_tags: Dict[str, Tuple[str, ...]]) -> Dict[str, MappingPlan]:
    """`full` for a taxonomy that declares no plans (task -> its tags, in order): its first task over 30-s
    windows, then every other task over 2.5-s windows everywhere."""
    names = list(task_tags)
    first, rest = names[0], tuple(names[1:])
    return {FULL: MappingPlan(FULL, "Full: every task of the model", stage1_task=first,
                              stage1_tag=task_tags[first][0], stage2=((ANY, rest),) if rest else ())}


def plans_from_list(items) -> Dict[str, MappingPlan]:
    plans: Dict[str, MappingPlan] = {}
    for item in items or ():
        plan = item if isinstance(item, MappingPlan) else MappingPlan.from_dict(item)
        if plan.name in plans:
            raise ValueError(f"two mapping plans are named {plan.name!r}")
        plans[plan.name] = plan
    return plans


__all__ = ["ANY", "FULL", "FollowUp", "MappingPlan", "halsted_plans", "default_plans", "plans_from_list"]
