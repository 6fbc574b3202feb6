# nbconvert configuration for the README's main job. The exported page shows each result's
# own self-contained HTML (steps, answer, collapsible reasoning and raw JSON) instead of a
# widget view, which would need the jupyter-widgets scripts from a CDN to appear at all; and
# it is written with templates/offline (the lab template without its CDN scripts, with CJK
# fonts in its font lists), so opening it makes no network request.
from pathlib import Path

c = get_config()  # noqa: F821
c.HTMLExporter.extra_template_basedirs = [str(Path(__file__).resolve().parent / "templates")]
c.HTMLExporter.template_name = "offline"
c.NbConvertBase.display_data_priority = [
    "text/html",
    "application/pdf",
    "text/latex",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/markdown",
    "text/plain",
]
