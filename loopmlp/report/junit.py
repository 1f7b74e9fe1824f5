"""Results as JUnit XML: one testcase per obligation, for CI dashboards."""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from verify.result import Result, Verdict, summary

from .content import versions
from .model import finding, replay_command

JUNIT_MARKER = b'<testsuites name="loopmlp"'
"""The root element of every JUnit file loopmlp writes."""


def split_name(name: str) -> tuple[str, str]:
    """(classname, name) of a JUnit testcase: before and after the first ``/``."""
    head, sep, rest = name.partition("/")
    return (head, rest) if sep and head and rest else ("loopmlp", name)


def junit_xml(results: Sequence[Result], seconds: float | None = None,
              suite: str = "loopmlp") -> str:
    """The results as JUnit XML: one ``<testcase>`` per obligation.

    A refuted obligation is a ``<failure>`` whose message gives the counterexample and the replay
    command; an unknown one is ``<skipped>`` with the reason. The suite's counts match the
    results (``errors`` is 0: a checker error stops the run with exit code 2 instead).
    """
    s = summary(results)
    total = sum(r.seconds for r in results) if seconds is None else seconds
    counts = {"tests": str(len(results)), "failures": str(s["refuted"]), "errors": "0",
              "skipped": str(s["unknown"]), "time": f"{total:.3f}"}
    root = ET.Element("testsuites", {"name": suite, **counts})
    ts = ET.SubElement(root, "testsuite", {
        "name": suite, **counts,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": platform.node() or "localhost",
    })
    props = ET.SubElement(ts, "properties")
    for k, v in versions().items():
        ET.SubElement(props, "property", {"name": f"version.{k}", "value": v})
    for r in results:
        classname, name = split_name(r.obligation)
        case = ET.SubElement(ts, "testcase", {"classname": classname, "name": name,
                                              "time": f"{r.seconds:.3f}"})
        if r.verdict is Verdict.REFUTED:
            message = finding(r)
            text = r.line()
            command = replay_command(r)
            if r.counterexample is not None and command is not None:
                message = f"{message} -- reproduce: {command}"
                text += "\n\nreproduce:\n  " + command + "\n\ncounterexample:\n" + json.dumps(
                    r.counterexample.to_json(), indent=2)
            fail = ET.SubElement(case, "failure", {"type": "refuted", "message": message})
            fail.text = text
        elif r.verdict is Verdict.UNKNOWN:
            ET.SubElement(case, "skipped", {"message": f"unknown ({r.method}): {r.reason}"})
        out = ET.SubElement(case, "system-out")
        out.text = r.line()
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
