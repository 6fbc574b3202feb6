"""``%structured_schema``: the JSON Schema that schema text makes, and the same schema as
Pydantic models, to copy into a notebook when the text outgrows one line.

Prints the JSON Schema (what ``%%structured "..."`` validates against; the request may add
what a provider's strict mode needs, such as ``additionalProperties: false``) and, when
Pydantic is installed, the models' source; without Pydantic, one line saying what to
install for it. Each mistake is a one-line ``UsageError`` (a mistake in the text names its
column, as in ``%%structured``).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

from IPython.core.error import UsageError

from ..errors import StructuredError
from ..schema.dsl import model_source, schema_dsl
from .cell import schema_variable
from .options import SchemaOptions

__all__ = ["show_schema"]

PYDANTIC_EXTRA = 'pip install "structmagic[pydantic]"'


def show_schema(ns: dict[str, Any], opts: SchemaOptions) -> None:
    """Print the JSON Schema of the schema text, then its Pydantic models (or a note)."""
    text = opts.schema if opts.inline else schema_variable(ns, opts.schema)
    where = "" if opts.inline else f"{opts.schema}: "
    if not isinstance(text, str):
        kind = type(text).__name__
        raise UsageError(f"{where}holds {'an' if kind[:1] in 'aeiou' else 'a'} {kind}, not "
                         'schema text; %structured_schema shows what schema text ("name, age '
                         'int") makes.')
    try:
        schema = schema_dsl(text, multi=opts.multi)
        source = model_source(text, multi=opts.multi)
    except StructuredError as exc:
        raise UsageError(f"{where}{exc}") from None
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    print()
    if importlib.util.find_spec("pydantic") is None:
        print(f"# For the same schema as Pydantic models: {PYDANTIC_EXTRA}")
        return
    print("# The same schema as Pydantic models (pass Response as the schema):")
    print(source, end="")
