"""Lesson metadata, from the customer's spec (lesson 02.2), as plain data the pages display."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LearningObjective:
    id: str
    text: str
    page: str  # title of the page that serves this objective
    checkpoint: str


@dataclass(frozen=True)
class LessonInfo:
    title: str
    unique_id: str
    duration_minutes: int
    level: str
    prerequisites: tuple[str, ...]
    objectives: tuple[LearningObjective, ...]
    passing_threshold: float


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
            "Architecture",
            "checkpoint_1",
        ),
        LearningObjective(
            "LO2",
            "Analyze information flow patterns through residual stream communication",
            "Residual stream",
            "checkpoint_2",
        ),
        LearningObjective(
            "LO3",
            "Design production-ready architectural analysis tools",
            "Production mapping",
            "checkpoint_3",
        ),
    ),
    passing_threshold=0.85,
)


#: The spec's test sequence (``torch.tensor([[1, 15, 27, 89, 156, 234, 445, 567]])``).
SPEC_EXAMPLE_IDS: tuple[int, ...] = (1, 15, 27, 89, 156, 234, 445, 567)


def repeated_random_ids(vocab_size: int, half_length: int, seed: int) -> list[int]:
    """A random sequence of ``half_length`` ids, then the same ids again.

    The second half can be predicted by looking back at the first: the classic input for
    spotting induction-style attention in a trained model.
    """
    import random

    if vocab_size < 1 or half_length < 1:
        from core.validators import ValidationError

        raise ValidationError("Need a vocabulary and a length of at least 1.")
    rng = random.Random(seed)
    first = [rng.randrange(vocab_size) for _ in range(half_length)]
    return first + first
