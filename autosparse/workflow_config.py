"""Old home of the DAG's config checks and planning, now :mod:`autosparse.workflow`
(``config``: loading and checks; ``stages``: artifact names and stage inputs; ``experiments``:
the tables, figures and ledger; ``args``: job arguments). Their names are re-exported so that
``from autosparse import workflow_config`` keeps working."""

from .workflow.args import *  # noqa: F403
from .workflow.args import capped as _capped  # noqa: F401
from .workflow.args import overrides as _overrides  # noqa: F401
from .workflow.config import *  # noqa: F403
from .workflow.experiments import *  # noqa: F403
from .workflow.experiments import dedup as _dedup  # noqa: F401
from .workflow.experiments import grid as _grid  # noqa: F401
from .workflow.stages import *  # noqa: F403
from .workflow.stages import scored_variant as _scored  # noqa: F401
