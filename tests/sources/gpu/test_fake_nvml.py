"""The fake speaks pynvml: every name the agent may call exists in pynvml, same signature."""

from __future__ import annotations

import inspect

import pynvml
import pytest

from support import fake_nvml
from support.fake_nvml import FakeNvml


@pytest.mark.parametrize("name", fake_nvml.PYNVML_NAMES)
def test_every_fake_name_exists_in_pynvml(name: str) -> None:
    assert hasattr(pynvml, name), f"pynvml has no {name}: the fake would hide a typo"
    real, fake = getattr(pynvml, name), getattr(FakeNvml, name)
    if isinstance(real, type):
        assert real.__name__ == fake.__name__
    elif callable(real):
        want = [p for p in inspect.signature(real).parameters.values() if p.default is p.empty]
        got = list(inspect.signature(fake).parameters)[1:]  # drop self
        assert len(got) == len(want), f"{name}: pynvml takes {want}, the fake {got}"
    else:
        assert fake == real, f"{name}: pynvml {real}, fake {fake}"


@pytest.mark.parametrize(
    "cls", ["NVMLError_NotSupported", "NVMLError_GpuIsLost", "NVMLError_LibraryNotFound"]
)
def test_error_classes_match_pynvml(cls: str) -> None:
    real, fake = getattr(pynvml, cls), getattr(fake_nvml, cls)
    code = real(0).value  # pynvml's subclass ignores the argument and carries its own code
    built = fake_nvml.NVMLError(code)
    assert type(built) is fake and built.value == code, "NVMLError(code) builds the subclass"
    assert type(pynvml.NVMLError(code)).__name__ == type(built).__name__
