"""Assessment engine: load a question bank, grade responses, explain the result.

Public API (the pages and checks rely on these names)::

    bank = load_bank("assessments/checkpoint_1.yaml")        # or load_bank(bank_path("summative"))
    view = public_view(bank)                                 # render this before submission
    result = grade(bank, {"item_id": answer, ...})           # GradeResult
    result = grade(bank, answers, run_code=True)             # run coding items that have tests
    result.score, result.passed, result.items["item_id"].score, result.to_dict()
    report_markdown(bank, result)                            # a downloadable report
    GRADING_RULES_MARKDOWN                                   # "How this is graded"

Modules: ``schema`` (pydantic models of a bank), ``loader`` (safe YAML loading and messages),
``grading`` (results and the per-type graders), ``essay`` and ``text`` (the rubric of claims),
``structure`` (code read as a syntax tree), ``interface`` and ``coding`` (the coding item run
against a reference in :mod:`core.sandbox`), ``live`` (answer keys computed from the shipped
models), ``policy`` (whether code may run here), ``report`` (Markdown report and grading rules).
``python -m core.assessment [bank.yaml ...]`` checks banks before publishing them.
"""

from core.assessment.coding import MAX_CODE_CHARS
from core.assessment.essay import CONTRADICTION_PENALTY, KEYWORD_LIST_CAP, MAX_ESSAY_CHARS
from core.assessment.grading import (
    GradeResult,
    ItemResult,
    grade,
    grade_item,
    public_view,
    with_reviews,
)
from core.assessment.loader import (
    BANK_DIR,
    CHECKPOINT_IDS,
    MAX_BANK_BYTES,
    SUMMATIVE_ID,
    bank_path,
    load_bank,
    load_banks,
)
from core.assessment.policy import ExecutionPolicy, code_execution
from core.assessment.report import GRADING_RULES_MARKDOWN, escape_markdown, report_markdown
from core.assessment.schema import MAX_ESSAY_WORDS, Bank

__all__ = [
    "load_bank",
    "load_banks",
    "bank_path",
    "BANK_DIR",
    "CHECKPOINT_IDS",
    "SUMMATIVE_ID",
    "public_view",
    "grade",
    "grade_item",
    "with_reviews",
    "GradeResult",
    "ItemResult",
    "report_markdown",
    "escape_markdown",
    "GRADING_RULES_MARKDOWN",
    "KEYWORD_LIST_CAP",
    "CONTRADICTION_PENALTY",
    "MAX_ESSAY_WORDS",
    "MAX_ESSAY_CHARS",
    "MAX_CODE_CHARS",
    "MAX_BANK_BYTES",
    "Bank",
    "ExecutionPolicy",
    "code_execution",
]
