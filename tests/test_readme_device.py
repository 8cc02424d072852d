"""The device in docs/your-project.md (``class Answer``) has the methods the ``Device`` protocol names, as named."""

import inspect

from pmtimer_harness.core.bus import Device

from tests.test_readme import python_blocks

PROTOCOL_METHODS = ("read", "write", "state", "restore")


def docs_device() -> type:
    (block,) = [block for block in python_blocks() if "class Answer:" in block]
    # The class alone: the rest of the example runs guests, which test_readme already does.
    device = block[block.index("class Answer:"):block.index("\n\nimage = ")]
    source = "from pmtimer_harness import PortWindow\n" + device
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(source, "docs/your-project.md", "exec"), namespace)
    return namespace["Answer"]


def parameter_names(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_docs_device_s_methods_take_what_the_protocol_gives():
    answer = docs_device()
    for method in PROTOCOL_METHODS:
        assert parameter_names(getattr(answer, method)) == parameter_names(getattr(Device, method)), method


def test_the_docs_device_saves_and_restores_through_a_snapshot_version():
    answer = docs_device()()
    assert isinstance(answer.state_version, int)
    answer.restore(answer.state(now_ns=0), now_ns=0)
