"""The bad-input corpus for quantities, config files and price books: each bad file is refused
with the message its `# expect:` line names (file, field and value), never a traceback."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from unitcost.base.errors import InputError
from unitcost.config.file import load_config
from unitcost.costmodel.quantity import QuantityError, parse_quantity
from unitcost.pricing import PriceBook

HERE = Path(__file__).parent
QUANTITIES = yaml.safe_load((HERE / "quantities.yaml").read_text("utf-8"))
CONFIGS = sorted((HERE / "configs").glob("*.yaml"))
PRICEBOOKS = sorted((HERE / "pricebooks").glob("*.yaml"))


@pytest.mark.parametrize(("text", "expected"), sorted(QUANTITIES["valid"].items()))
def test_valid_quantities(text: str, expected: float) -> None:
    assert math.isclose(parse_quantity(text), float(expected), rel_tol=1e-12)


@pytest.mark.parametrize("text", QUANTITIES["invalid"])
def test_invalid_quantities_are_refused_by_name(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert repr(text) in str(info.value)


def expectation(path: Path) -> str:
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path}: first line must be '# expect: ...'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_bad_configs(path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert expectation(path) in message, message


@pytest.mark.parametrize("path", PRICEBOOKS, ids=[p.stem for p in PRICEBOOKS])
def test_bad_pricebooks(path: Path) -> None:
    with pytest.raises(InputError) as info:
        PriceBook.load([path])
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert expectation(path) in message, message
