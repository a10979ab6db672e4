"""The `lakehouse:` block: read from the config file, flags laid over it field by field, and
errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from unitcost.base.errors import InputError
from unitcost.config.file import load_config
from unitcost.config.lakehouse import (
    LakehouseSettings,
    catalog_properties,
    check_complete,
    with_overrides,
)


def test_block_from_file_then_flags_over_it(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "lakehouse:\n"
        "  catalog:\n"
        "    type: rest\n"
        "    uri: https://polaris:8181/api/catalog\n"
        "    warehouse: finance\n"
        "    properties: {token-refresh-enabled: 'true'}\n"
        "  table: costs\n"
    )
    block = load_config(path).lakehouse
    assert (block.catalog.type, block.namespace, block.table) == ("rest", "finops", "costs")
    assert catalog_properties(block.catalog) == {
        "type": "rest",
        "uri": "https://polaris:8181/api/catalog",
        "warehouse": "finance",
        "token-refresh-enabled": "true",
    }
    flagged = with_overrides(block, {"uri": "https://other/api", "namespace": "fin.ops"})
    assert flagged.catalog.uri == "https://other/api" and flagged.catalog.warehouse == "finance"
    assert (flagged.namespace, flagged.table) == ("fin.ops", "costs")
    assert with_overrides(block, {}) == block


def test_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("lakehouse:\n  catalog:\n    type: delta\n")
    with pytest.raises(InputError, match=r"config\.yaml: lakehouse\.catalog\.type: .*'delta'"):
        load_config(path)
    with pytest.raises(InputError, match=r"^flags: lakehouse\.namespace: .*'9fin'"):
        with_overrides(LakehouseSettings(), {"namespace": "9fin"}, "flags")
    with pytest.raises(InputError, match=r"lakehouse\.catalog\.uri: required for a 'hive'"):
        check_complete(with_overrides(LakehouseSettings(), {"type": "hive"}), "x.yaml")
    check_complete(with_overrides(LakehouseSettings(), {"type": "glue"}), "x.yaml")  # no URI
