"""The labeling data model, one module per concept: projects, prompts (with demonstrations and
candidates), the task queue, rankings, and quality figures. State changes with side effects live in
labeling.workflow."""
from labeling.models.projects import Project, RankOrder, TaskKind, render_guidelines
from labeling.models.prompts import (
    OPEN_PROMPT_STATES, PROMPT_STATES, Candidate, Demonstration, Prompt, PromptKind, PromptSource, PromptState,
)
from labeling.models.queue import (
    REPORT_REASONS, TASK_STATES, UNFINISHED_TASK_STATES, SkipReason, Task, TaskState, lease_duration,
)
from labeling.models.quality import (
    QUALIFIED, GoldRanking, GoldSource, LabelerQuality, ProjectAgreement, PromptAgreement, Qualification,
)
from labeling.models.rankings import REVIEW_STATES, CandidateRating, Ranking, ReviewCause, ReviewStatus

__all__ = [
    "Candidate", "CandidateRating", "Demonstration", "GoldRanking", "GoldSource", "LabelerQuality",
    "OPEN_PROMPT_STATES", "PROMPT_STATES", "Project", "Prompt", "ProjectAgreement", "PromptAgreement", "PromptKind",
    "PromptSource", "PromptState", "QUALIFIED", "Qualification", "REPORT_REASONS", "REVIEW_STATES", "RankOrder",
    "Ranking", "ReviewCause", "ReviewStatus", "SkipReason", "TASK_STATES", "Task",
    "TaskKind", "TaskState", "UNFINISHED_TASK_STATES", "lease_duration", "render_guidelines",
]
