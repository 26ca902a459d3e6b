"""Result rows and the table the benchmark prints (Markdown, so it pastes into docs/)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One figure: ours, the alternative it is compared with, and ours/alternative."""

    section: str  # "1 scheduling", ...
    figure: str
    ours: float
    unit: str
    alternative: float | None = None
    alternative_name: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.alternative is None or self.alternative == 0:
            return None
        return self.ours / self.alternative


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    lines = ["| # | figure | ours | compared with | ratio | target | met |",
             "|---|---|---:|---|---:|---|---|"]
    for row in rows:
        other = (f"{number(row.alternative)} {row.unit} ({row.alternative_name})"
                 if row.alternative is not None else row.alternative_name)
        ratio = "" if row.ratio is None else (
            f"{row.ratio:.2f}x" if row.ratio >= 0.1 else f"{row.ratio:.2g}x")
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        lines.append(f"| {row.section} | {row.figure} | {number(row.ours)} {row.unit} | "
                     f"{other} | {ratio} | {row.target} | {met} |")
    return "\n".join(lines)


def as_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [{**asdict(row), "ratio": row.ratio} for row in rows]


def progress(message: str) -> None:
    """Progress goes to stderr; stdout carries only the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)
