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


@needs("openai")
def test_openai_warm_up_imports_the_sdk_and_its_chat_endpoint_in_a_thread():
    code = SCRIPT.format(module="openai_teacher", cls="OpenAITeacher", plugin="openai", sdk="openai")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


@needs("anthropic")
def test_anthropic_warm_up_imports_the_sdk_and_its_messages_endpoint_in_a_thread():
    code = SCRIPT.format(
        module="anthropic_teacher", cls="AnthropicTeacher", plugin="anthropic", sdk="anthropic"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
