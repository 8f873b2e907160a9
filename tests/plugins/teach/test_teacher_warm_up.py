"""A teacher's SDK (a second of imports) is imported from the run's start, in a thread, so that
the teach stage does not wait for it; ``vlkd validate`` imports nothing of it."""

import subprocess
import sys

from vlkd.testing.extras import needs

SCRIPT = """
import sys, threading
from vlkd.plugins.teach.{module} import {cls} as T
teacher = T(T.Options.model_validate({{"plugin": "{plugin}", "model": "m", "base_url": "http://127.0.0.1:9/v1"}}))
assert "{sdk}" not in sys.modules
teacher.warm_up()
for t in threading.enumerate():
    if t.name == "vlkd-import-{sdk}":
        t.join(120)
print("{sdk}" in sys.modules, all(m in sys.modules for m in T.sdk_modules))
"""


@needs("anthropic")
def test_anthropic_warm_up_imports_the_sdk_and_its_messages_endpoint_in_a_thread():
    code = SCRIPT.format(
        module="anthropic_teacher", cls="AnthropicTeacher", plugin="anthropic", sdk="anthropic"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def printed(code: str) -> list[str]:
    """The lines a fresh interpreter prints running ``code`` (which must succeed)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


DEFERRED = """
import asyncio, sys, threading
from vlkd.plugins.teach.openai_teacher import OpenAITeacher as T
from vlkd.teach.teacher import TeachRequest
from vlkd.core.records import ImageRecord
from vlkd.testing.fake_provider import FakeProvider

with FakeProvider() as server:
    teacher = T(T.Options.model_validate({"plugin": "openai", "model": "gpt-4o", "base_url": server.openai_url,
                                           "api_key": server.api_key}))
    teacher.warm_up()
    for t in threading.enumerate():
        if t.name == "vlkd-import-openai":
            t.join(120)
    # the client is built, the type modules that no call reads are not imported
    print("client", teacher._preparing.result()[1] is not None)
    print("deferred", "openai.types.responses.response" not in sys.modules, "openai.types.batch" not in sys.modules)

    async def main():
        await teacher.start(None, [])
        image = ImageRecord(id="a" * 64, path="a.png", width=4, height=4, format="PNG")
        answer = await teacher.respond(TeachRequest(image=image, image_bytes=b"png", mime="image/png", user="Q?"))
        await teacher.close()
        return answer

    print("answered", bool(asyncio.run(main()).text))
    # whoever reads the deferred packages later gets what they export, as after a plain import
    import openai
    from openai.types.chat import ChatCompletion
    from openai.types import Batch
    print("read later", openai.types.Batch is Batch, ChatCompletion.__name__, hasattr(openai.types.responses, "Response"))
"""


@needs("openai")
def test_openai_warm_up_builds_the_client_in_a_thread_without_the_unused_types_and_it_answers():
    """The SDK is imported and the client built in the warm-up thread, leaving out the type
    packages nothing reads; the call answers, and a later reader of those packages gets them."""
    assert printed(DEFERRED) == [
        "client True",
        "deferred True True",
        "answered True",
        "read later True ChatCompletion True",
    ]


def test_a_deferred_package_runs_its_init_at_the_first_name_it_lacks(tmp_path):
    pkg = tmp_path / "dpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub.leaf import VALUE\n")
    (pkg / "sub" / "__init__.py").write_text(
        "import sys\nsys.modules['__main__'].RAN.append('sub')\nfrom .leaf import VALUE as ALIAS\n"
    )
    (pkg / "sub" / "leaf.py").write_text("VALUE = 42\n")
    code = f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
RAN = []
from vlkd.plugins.teach.deferred_import import import_deferring
dpkg = import_deferring("dpkg", ["dpkg.sub"])
print(RAN, dpkg.VALUE)
print(dpkg.sub.ALIAS, RAN, type(dpkg.sub).__name__)
from dpkg.sub import ALIAS
print(ALIAS, RAN)
try:
    dpkg.sub.missing
except AttributeError as exc:
    print(exc)
"""
    assert printed(code) == [
        "[] 42",
        "42 ['sub'] module",
        "42 ['sub']",
        "module 'dpkg.sub' has no attribute 'missing'",
    ]
