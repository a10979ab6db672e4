"""The example Alertmanager routing, on the real amtool and the real Alertmanager."""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from support.prometheus import alertmanager, http_get, wait_until
from support.tools import tool

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "alerts" / "alertmanager.example.yml"
AMTOOL = tool("amtool")


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def test_amtool_check_config() -> None:
    result = _amtool("check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "am.yml"
    broken.write_text("route:\n  receiver: nobody\nreceivers: []\n")
    result = _amtool("check-config", str(broken))
    assert result.returncode != 0
    assert "nobody" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["team=llm-training", "severity=critical"], "llm-training-pager"),
        (["team=llm-training", "severity=warning"], "llm-training-tickets"),
        (["team=vision", "severity=critical"], "vision-pager"),
        (["team=vision", "severity=warning"], "vision-tickets"),
        (["team=platform", "severity=critical"], "platform-pager"),
        (["team=platform", "severity=warning"], "platform-tickets"),
        (["team=platform", "severity=info"], "platform-tickets"),  # UnitcostSimulatedData
        # A team without its own route: FinOps pages or tickets.
        (["team=etl", "severity=critical"], "finops-pager"),
        (["team=etl", "severity=warning"], "finops"),
    ],
)
def test_routes(labels: list[str], receiver: str) -> None:
    result = _amtool("config", "routes", "test", f"--config.file={EXAMPLE}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def _post(url: str, alerts: list[dict[str, object]]) -> None:
    request = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


#: The example config's verdict on the alerts the inhibition test posts.
EXPECTED = {
    ("UnitcostSourceDown", "c1"): "active",
    ("UnitcostTeamWasteHigh", "c1"): "suppressed",
    ("UnitcostTeamWasteHigh", "c2"): "active",
    ("UnitcostSimulatedData", "c3"): "active",
    ("UnitcostBudgetBurnSlow", "c3"): "suppressed",
    ("UnitcostExporterAbsent", ""): "active",
    ("UnitcostBudgetBurnFast", ""): "suppressed",
}


@pytest.mark.xdist_group("alertmanager")
def test_cost_alerts_are_inhibited_while_data_is_bad() -> None:
    """Real Alertmanager, the example config: a source down in cluster c1 silences c1's cost
    alerts only, simulated data in c3 silences c3's; without any cluster label (one
    Prometheus) the inhibition still applies."""

    def alert(name: str, **labels: str) -> dict[str, object]:
        return {"labels": {"alertname": name, **labels}}

    with alertmanager(EXAMPLE.read_text("utf-8")) as am:
        _post(
            am.url,
            [
                alert("UnitcostSourceDown", cluster="c1", source="kubernetes", team="platform"),
                alert("UnitcostTeamWasteHigh", cluster="c1", team="etl", severity="warning"),
                alert("UnitcostTeamWasteHigh", cluster="c2", team="etl", severity="warning"),
                alert("UnitcostSimulatedData", cluster="c3", team="platform", severity="info"),
                alert("UnitcostBudgetBurnSlow", cluster="c3", team="etl", severity="warning"),
                alert("UnitcostExporterAbsent", team="platform", severity="critical"),
                alert("UnitcostBudgetBurnFast", team="vision", severity="critical"),
            ],
        )

        def states() -> dict[tuple[str, str], str]:
            got = json.loads(http_get(f"{am.url}/api/v2/alerts"))
            return {
                (a["labels"]["alertname"], a["labels"].get("cluster", "")): a["status"]["state"]
                for a in got
            }

        # The inhibitor learns the source alerts from the alert store asynchronously: a read
        # straight after the post may see a target not suppressed yet.
        with contextlib.suppress(TimeoutError):  # the assertion below shows the difference
            wait_until(lambda: states() == EXPECTED or None, timeout=10, what="inhibition")
        state = states()
    assert state == EXPECTED
