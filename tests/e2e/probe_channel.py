"""The probe channel the e2e and CLI tests run in (issue 18).

FLEETPS_TEST_PROBE_CHANNEL=shell|exec puts `probe_channel: <mode>` into the defaults of every
inventory a test writes; unset leaves the product's default (`auto`). ctest's `<test>.exec`
registrations set it to exec. Any other value stops the test with a clear message.
"""
import os
import sys

_MODES = ("shell", "exec")


def mode():
    """The mode, or "" when the variable is unset or empty."""
    value = os.environ.get("FLEETPS_TEST_PROBE_CHANNEL", "")
    if value and value not in _MODES:
        sys.exit(f"FLEETPS_TEST_PROBE_CHANNEL is {value!r}; it must be shell or exec")
    return value


def defaults_lines(indent="  "):
    """YAML lines to append to a `defaults:` block written by hand."""
    return [f"{indent}probe_channel: {mode()}"] if mode() else []


def apply(config):
    """Sets the mode in a loaded inventory (a dict with or without `defaults`); returns it."""
    if mode():
        config.setdefault("defaults", {})["probe_channel"] = mode()
    return config


def emit_args():
    """fleetsim --emit-config arguments that write the mode into the emitted defaults."""
    return ["--probe-channel", mode()] if mode() else []
