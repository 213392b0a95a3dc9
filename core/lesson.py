"""Lesson metadata, from the customer's spec (lesson 02.2), as plain data the pages display."""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.validators import ValidationError


@dataclass(frozen=True)
class LessonPage:
    """One page of the lesson: ``slug`` is its module in ``pages/`` and its URL path."""

    slug: str
    title: str
    icon: str
    objective: str | None = None  # the learning objective it serves, if any


@dataclass(frozen=True)
class LearningObjective:
    id: str
    text: str
    page: str  # slug of the page that serves this objective
    checkpoint: str  # id of the question bank at the end of that page


@dataclass(frozen=True)
class LessonInfo:
    title: str
    unique_id: str
    duration_minutes: int
    level: str
    prerequisites: tuple[str, ...]
    objectives: tuple[LearningObjective, ...]
    pages: tuple[LessonPage, ...]
    passing_threshold: float

    def page(self, slug: str) -> LessonPage:
        for p in self.pages:
            if p.slug == slug:
                return p
        raise KeyError(slug)

    def objective_for(self, slug: str) -> LearningObjective | None:
        return next((o for o in self.objectives if o.page == slug), None)


LESSON = LessonInfo(
    title="02.2 High-Level Transformer Architecture",
    unique_id="02-02-high-level-architecture",
    duration_minutes=120,
    level="Intermediate (4 of 5: intermediate implementation)",
    prerequisites=("02-01 Model simplifications", "Intermediate linear algebra"),
    objectives=(
        LearningObjective(
            "LO1",
            "Implement complete transformer architecture with residual stream tracking",
            "architecture",
            "checkpoint_1",
        ),
        LearningObjective(
            "LO2",
            "Analyze information flow patterns through residual stream communication",
            "residual_stream",
            "checkpoint_2",
        ),
        LearningObjective(
            "LO3",
            "Design production-ready architectural analysis tools",
            "production",
            "checkpoint_3",
        ),
    ),
    pages=(
        LessonPage("home", "Home", ":material/home:"),
        LessonPage("architecture", "Architecture", ":material/account_tree:", "LO1"),
        LessonPage("residual_stream", "Residual stream", ":material/timeline:", "LO2"),
        LessonPage("circuits", "Circuits in a trained model", ":material/hub:"),
        LessonPage("production", "Production mapping", ":material/factory:", "LO3"),
        LessonPage("assessment", "Final assessment", ":material/task_alt:"),
    ),
    passing_threshold=0.85,
)


#: Half length of the lesson's repeated-random-tokens preset (the sidebar's input and the live
#: quiz items use the same sequence: ``repeated_random_ids(vocab, REPEAT_HALF_LENGTH, 0)``).
REPEAT_HALF_LENGTH = 20

#: The spec's test sequence (``torch.tensor([[1, 15, 27, 89, 156, 234, 445, 567]])``).
SPEC_EXAMPLE_IDS: tuple[int, ...] = (1, 15, 27, 89, 156, 234, 445, 567)


def repeated_random_ids(vocab_size: int, half_length: int, seed: int) -> list[int]:
    """A random sequence of ``half_length`` ids, then the same ids again.

    The second half can be predicted by looking back at the first: the classic probe for
    induction heads, which only a trained model can have (random weights show none).
    """
    if vocab_size < 1 or half_length < 1:
        raise ValidationError("Need a vocabulary and a length of at least 1.")
    rng = random.Random(seed)
    first = [rng.randrange(vocab_size) for _ in range(half_length)]
    return first + first
