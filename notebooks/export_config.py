# nbconvert configuration for the README's main job: an exported page shows each result's own
# self-contained HTML (steps, answer, collapsible reasoning and raw JSON) instead of a widget
# view, which would need the jupyter-widgets scripts from a CDN to appear at all.
c = get_config()  # noqa: F821
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
