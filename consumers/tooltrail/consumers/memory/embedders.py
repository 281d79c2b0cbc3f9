"""The offline embedders, where the workers have always imported them from.

They live in ``tooltrail.schemas.vectors.embedders`` because tool servers embed memory queries
with the very same functions (``tooltrail.producer.memory_tools``) and the producer must not
import the workers' packages. Add new functions there: every public name of that module is
importable from here as well.
"""

from tooltrail.schemas.vectors.embedders import *  # noqa: F403 - this module is an alias
