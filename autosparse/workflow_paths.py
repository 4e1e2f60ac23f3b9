"""Old home of :mod:`autosparse.workflow.paths` (artifact names and paths of the DAG): its names,
re-exported so that ``from autosparse import workflow_paths`` keeps working."""

from .workflow.paths import *  # noqa: F403
