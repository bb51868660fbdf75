"""The accuracy providers' registry: one list of names, each resolved lazily to its class."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dse.accuracy import PROVIDERS, REGISTRY, check_options, get_provider, provider_class
from dse.errors import UserError


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_registered_provider_resolves_to_its_class(name):
    cls = provider_class(name)
    assert cls.name == name and cls.__name__ == REGISTRY[name].split(":")[1]
    assert isinstance(cls.OPTIONS, frozenset) and cls.OPTIONS


def test_importing_the_package_imports_no_provider():
    code = ("import sys, dse.accuracy; "
            "print(sorted(m for m in sys.modules if m.startswith('dse.accuracy.') and m != 'dse.accuracy.base'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("check", [lambda: get_provider("nosuch"), lambda: check_options("nosuch", {"x": 1})])
def test_an_unknown_provider_names_the_choices(check):
    with pytest.raises(UserError, match="unknown accuracy provider 'nosuch': use one of calibrated, measured, user"):
        check()


def test_unknown_option_lists_the_class_options():
    with pytest.raises(UserError, match="unknown option 'bogus' for provider calibrated; allowed: fidelity_curve, "
                                        "fidelity_metric, sec_gamma, sec_share"):
        check_options("calibrated", {"bogus": 1})
