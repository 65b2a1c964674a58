"""What the report and the verdict both draw with: colours, number formats, SVG charts, templates.

Charts are drawn by matplotlib with the Agg backend and inlined as SVG; the HTML templates in
``templates/`` beside this module render with autoescaping on.
"""

from __future__ import annotations

import io
import math
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = [
    "ARM_COLORS",
    "environment",
    "matplotlib_available",
    "num",
    "pct",
    "plt",
    "signed_pct",
    "svg",
]

#: Arm -> colour used in charts and badges.
ARM_COLORS = {"base": "#64748b", "prompted": "#2563eb", "tuned": "#c026d3"}


def pct(x: float | None) -> str:
    """A share as a whole percentage; ``n/a`` for none.

    >>> pct(0.853), pct(None)
    ('85%', 'n/a')
    """
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def num(x: float | None, digits: int = 2) -> str:
    """A number with *digits* decimals; ``n/a`` for none.

    >>> num(26.149), num(float("nan"))
    ('26.15', 'n/a')
    """
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def signed_pct(x: float | None) -> str:
    """A change as a signed percentage with one decimal.

    >>> signed_pct(0.025)
    '+2.5%'
    """
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:+.1f}%"


def svg(fig: Any) -> Markup:
    """A matplotlib figure as inline SVG markup (the figure is closed)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as pyplot

    pyplot.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.find("<svg") :]  # drop the XML prologue and doctype
    return Markup(svg)


def plt() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, with the report's style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.family": "sans-serif",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def matplotlib_available() -> bool:
    """Whether matplotlib (the ``eval`` extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescaping, strict undefined)."""
    folder = resources.files("glimmer.evaluate").joinpath("templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["num"] = num
    env.filters["signed_pct"] = signed_pct
    return env
