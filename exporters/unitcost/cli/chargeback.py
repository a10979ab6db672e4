"""`unitcost chargeback`: a period's charges from Prometheus as FOCUS CSV/Parquet or HTML, or
into an Iceberg table (cli/lakehouse.py)."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import click

from unitcost.base.errors import InputError
from unitcost.cli.lakehouse import check_iceberg, lakehouse_options, write_iceberg
from unitcost.cli.options import pricebook_option, require_extra
from unitcost.history.chargeback.focus import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_ACCOUNT_NAME,
    DEFAULT_PROVIDER,
    DEFAULT_VERSION,
    VERSIONS,
    Issuer,
    arrow_tables,
    column_batches,
    rows,
    to_csv,
    write_parquet,
    write_parquet_batches,
)
from unitcost.history.chargeback.period import Period, parse_time
from unitcost.history.chargeback.query import iter_days, read_charges, read_context
from unitcost.history.chargeback.reconcile import Report, reconcile
from unitcost.sources.promapi import PrometheusAPI, PrometheusError

FORMATS = ("focus-csv", "focus-parquet", "html", "iceberg")
DATASETS = ("cost-and-usage", "contract-commitment")


def _period(_ctx: click.Context, _param: click.Parameter, value: str) -> Period:
    try:
        return Period.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--prometheus",
    "url",
    required=True,
    help="Prometheus-compatible API base URL (Prometheus, Thanos Query, Mimir).",
)
@click.option(
    "--period",
    required=True,
    callback=_period,
    help="Billing month, YYYY-MM (UTC), or 'yesterday': its month up to today's 00:00 UTC.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="focus-csv",
    show_default=True,
    help="FOCUS CSV or Parquet, an HTML statement per team, or the FOCUS rows into an "
    "Iceberg table (docs/lakehouse.md).",
)
@click.option(
    "--focus-version",
    type=click.Choice(VERSIONS),
    default=DEFAULT_VERSION,
    show_default=True,
    help="FOCUS specification version of the CSV/Parquet columns (docs/chargeback.md).",
)
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default="cost-and-usage",
    show_default=True,
    help="FOCUS dataset: the charges, or (FOCUS 1.3) the price book's commitments and how "
    "much of them the estimates applied.",
)
@pricebook_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: stdout; required for focus-parquet).",
)
@click.option("--team", help="Only this team.")
@click.option(
    "--at",
    callback=_time,
    help="Read the period as it stood at this time (unix seconds or ISO 8601; default now).",
)
@click.option(
    "--billing-account",
    default=DEFAULT_ACCOUNT_ID,
    show_default=True,
    help="FOCUS BillingAccountId.",
)
@click.option(
    "--billing-account-name",
    default=DEFAULT_ACCOUNT_NAME,
    show_default=True,
    help="FOCUS BillingAccountName.",
)
@click.option(
    "--bill",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A provider's FOCUS 1.2+ export (Parquet or CSV) of the same month: print the "
    "estimate beside the billed cost per cluster and provider (and in the HTML statement).",
)
@click.option(
    "--provider",
    default=DEFAULT_PROVIDER,
    show_default=True,
    help="FOCUS ServiceProviderName (ProviderName, PublisherName before 1.4) and "
    "InvoiceIssuerName: who runs the platform.",
)
@click.option(
    "--host-provider",
    help="FOCUS 1.3+ HostProviderName: who hosts the nodes (e.g. AWS); default null.",
)
@lakehouse_options
def chargeback(
    url: str,
    period: Period,
    fmt: str,
    focus_version: str,
    dataset: str,
    pricebooks: tuple[Path, ...],
    output: Path | None,
    team: str | None,
    at: float | None,
    billing_account: str,
    billing_account_name: str,
    bill: Path | None,
    provider: str,
    host_provider: str | None,
) -> None:
    """Write a month's charges per team / namespace / day from the recorded cost series."""
    if fmt == "focus-parquet" and output is None:
        raise click.UsageError("--format focus-parquet writes binary: give --output PATH")
    if fmt == "iceberg" and dataset != "cost-and-usage":
        raise click.UsageError("--format iceberg writes the cost-and-usage dataset")
    lakehouse = check_iceberg(output) if fmt == "iceberg" else None
    if fmt in ("focus-parquet", "html"):  # Parquet needs pyarrow, the HTML statement Jinja2
        require_extra("chargeback", "pyarrow" if fmt == "focus-parquet" else "jinja2")
    now = time.time()
    if dataset == "contract-commitment":
        _commitments(url, period, fmt, focus_version, pricebooks, output, now if at is None else at)
        return
    issuer = Issuer(billing_account, billing_account_name, provider, host_provider)
    until = now if period.until is None else period.until
    when = until if at is None else at
    report = None
    try:
        with PrometheusAPI(url) as api:
            if bill is not None:
                report = _reconcile(api, bill, period, when)
                # beside the export, never inside it (stdout may be the CSV)
                click.echo(report.text(), err=True, nl=False)
            if fmt == "focus-parquet" or lakehouse is not None:
                # Streamed: each day is built column by column while the next is read
                # (docs/performance.md, "Chargeback").
                batches = column_batches(
                    read_context(api, period, when, team),
                    issuer,
                    stream=iter_days(api, period, when, team),
                )
                if lakehouse is not None:  # the month as one Arrow table
                    import pyarrow as pa  # type: ignore[import-untyped]

                    write_iceberg(
                        pa.concat_tables(arrow_tables(batches, focus_version)), lakehouse, team
                    )
                    return
                assert output is not None
                try:
                    write_parquet_batches(batches, output, focus_version)
                except OSError as exc:
                    _cannot_write(output, exc)
                return
            charges = read_charges(api, period, when, team)
    except PrometheusError as exc:
        click.echo(f"unitcost: error: {exc}", err=True)
        sys.exit(2)
    table = rows(charges, issuer)
    if fmt == "focus-csv":
        text = to_csv(table, focus_version)
    else:
        from unitcost.history.chargeback.statement import cluster_lines, render_statement

        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in table:
            if row["x_Team"]:  # the cluster's idle and unattributed rows have no team
                totals[row["x_Team"]] += row["BilledCost"]
        text = render_statement(
            charges,
            dict(totals),
            issuer=provider,
            generated=now,
            clusters=cluster_lines(table) if team is None else (),
            reconciliation=report,
        )
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, "utf-8")
        except OSError as exc:
            _cannot_write(output, exc)


def _reconcile(api: PrometheusAPI, path: Path, period: Period, at: float) -> Report:
    from unitcost.history.chargeback.bill import BillError, read_bill

    try:
        bill = read_bill(path, period)
    except BillError as exc:
        click.echo(f"unitcost: error: --bill: {exc}", err=True)
        sys.exit(2)
    return reconcile(api, bill, at)


def _commitments(
    url: str,
    period: Period,
    fmt: str,
    focus_version: str,
    pricebooks: tuple[Path, ...],
    output: Path | None,
    at: float,
) -> None:
    """--dataset contract-commitment: the FOCUS 1.3 Contract Commitment rows."""
    from unitcost.history.chargeback import commitments
    from unitcost.pricing import PriceBook

    if fmt == "html":
        raise click.UsageError(
            "--dataset contract-commitment is written as focus-csv or focus-parquet"
        )
    if focus_version != "1.3":
        raise click.UsageError(
            "--dataset contract-commitment is written as FOCUS 1.3 "
            f"(got --focus-version {focus_version})"
        )
    try:
        declared = commitments.declared(PriceBook.load(pricebooks).book)
    except (InputError, commitments.NoCommitments) as exc:
        click.echo(f"unitcost: error: {exc}", err=True)
        sys.exit(2)
    if at <= period.start:
        click.echo(
            f"unitcost: error: period {period.label} has not started at the given time", err=True
        )
        sys.exit(2)
    end = min(float(period.end), at)
    try:
        with PrometheusAPI(url) as api:
            committed = commitments.read_committed(api, period, end)
    except PrometheusError as exc:
        click.echo(f"unitcost: error: {exc}", err=True)
        sys.exit(2)
    table = commitments.rows(declared, committed, period, end)
    if fmt == "focus-parquet":
        assert output is not None
        try:
            write_parquet(table, output, "1.3", commitments.COLUMNS)
        except OSError as exc:
            _cannot_write(output, exc)
        return
    text = to_csv(table, "1.3", commitments.COLUMNS)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, "utf-8")
    except OSError as exc:
        _cannot_write(output, exc)


def _cannot_write(path: Path, exc: OSError) -> None:
    click.echo(f"unitcost: error: cannot write {path}: {exc.strerror or exc}", err=True)
    sys.exit(2)
