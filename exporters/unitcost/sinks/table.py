"""The showback table for people (rich)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from unitcost.sinks.showback import TeamRow


def _money(value: float) -> str:
    return f"${value:,.2f}"


def showback_table(rows: list[TeamRow], title: str, timestamp: float) -> Table:
    when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = Table(title=title, caption=f"cluster time {when}; month figures at the current rate")
    for header in (
        "team",
        "org",
        "$/h",
        "waste",
        "GPU idle $/h",
        "MTD at rate",
        "budget",
        "month at rate",
    ):
        table.add_column(header, justify="left" if header in ("team", "org") else "right")
    for row in rows:
        used = row.budget_used_ratio
        budget_cell = "-" if used is None else f"{_money(row.budget)}"
        month_cell = _money(row.month_at_rate)
        if used is not None:
            style = "bold red" if used > 1 else "yellow" if used > 0.8 else "green"
            month_cell = f"[{style}]{month_cell} ({used:.0%})[/]"
        table.add_row(
            row.team,
            row.org,
            _money(row.cost_per_hour),
            f"{row.waste_ratio:.0%}",
            _money(row.gpu_idle_per_hour),
            _money(row.month_to_date_at_rate),
            budget_cell,
            month_cell,
        )
    total = sum(r.cost_per_hour for r in rows)
    table.add_section()
    table.add_row(
        "total",
        "",
        _money(total),
        "",
        _money(sum(r.gpu_idle_per_hour for r in rows)),
        _money(sum(r.month_to_date_at_rate for r in rows)),
        "",
        "",
    )
    return table
