"""Old home of the cost plan (``python -m autosparse plan``), now :mod:`autosparse.workflow`
(``shapes``: layer shapes, FLOPs and dataset sizes; ``rates``: calibrated device rates, method
costs and store sizes; ``costs``: one job's estimate and SLURM request; ``jobs``: the DAG's jobs;
``plan``: the plan, its rendering and CLI). Their names are re-exported so that
``from autosparse import plan`` and the ``plan`` subcommand keep working."""

from .workflow.config import REPO_ROOT, load_config  # noqa: F401
from .workflow.costs import *  # noqa: F403
from .workflow.jobs import *  # noqa: F403
from .workflow.plan import *  # noqa: F403
from .workflow.rates import *  # noqa: F403
from .workflow.shapes import *  # noqa: F403
