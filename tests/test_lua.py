"""Every Lua script the app sends to Redis starts with its KEYS/ARGV legend."""

from __future__ import annotations

import importlib
import pkgutil
from itertools import takewhile

import pytest

import bot

SCRIPTS = [
    (f"{module.name}.{name}", value)
    for module in pkgutil.walk_packages(bot.__path__, "bot.")
    for name, value in vars(importlib.import_module(module.name)).items()
    if isinstance(value, str)
    and "redis.call(" in value
    and name.isupper()
    # A function used inside scripts (MAKE_READY, HELD) is not a script of its own.
    and not value.lstrip().startswith("local function")
]


def test_scripts_were_found():
    assert len(SCRIPTS) >= 15


@pytest.mark.parametrize("name, script", SCRIPTS, ids=[n for n, _ in SCRIPTS])
def test_script_starts_with_its_keys_and_argv_legend(name, script):
    lines = script.lstrip().splitlines()
    legend = "\n".join(takewhile(lambda line: line.startswith("--"), lines))
    assert legend.startswith("-- KEYS"), name
    assert "ARGV" in legend or "ARGV" not in script, name
