"""The shipped rule files and their promtool unit tests, loaded once."""

from __future__ import annotations

from typing import Any

import yaml

from tests.stack.tools import REPO

RULE_FILES = sorted((REPO / "rules").glob("*.yml"))
RULE_TESTS = sorted((REPO / "tests" / "rules").glob("*_test.yml"))


def load_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def load_rule_tests() -> list[dict[str, Any]]:
    """Every test case of every unit-test file (with YAML anchors resolved)."""
    return [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]]


ALERTS = [rule for rule in load_rules() if "alert" in rule]
RECORDS = [rule for rule in load_rules() if "record" in rule]
