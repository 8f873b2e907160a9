"""Switching ``teach.mode`` from batch to online while batches are open must not pay twice."""

import pytest

from vlkd.core.errors import StageError
from vlkd.testing.teach import section

POLL = {"batch_poll_interval": 0.05}


def test_online_while_batches_are_open_is_refused_before_any_request(provider, images, run_teach):
    folder = images(4)
    provider.batch_latency = 3600  # the provider is slow today
    batch = section(provider, mode="batch", **POLL)
    manifest, rd = run_teach(folder, batch, no_wait=True)
    assert manifest["stages"]["teach"]["status"] == "waiting" and len(provider.batches) == 1
    with pytest.raises(StageError) as err:
        run_teach(folder, section(provider, mode="online"))
    message = str(err.value)
    assert "4 of the images to teach are in 1 open batch that an earlier run submitted" in message
    assert "would pay for them twice" in message and "--set teach.mode=batch" in message
    assert f"vlkd teach cancel {rd}" in message
    assert sum(provider.requests.values()) == 0  # nothing asked online
    # collected in batch mode, then online has nothing left to ask: each image paid once
    provider.batch_latency = 0
    manifest, _ = run_teach(folder, batch)
    assert manifest["stages"]["teach"]["status"] == "done"
    manifest, _ = run_teach(folder, section(provider, mode="online"))
    assert manifest["stages"]["teach"]["counts"]["ok"] == 4
    assert sorted(provider.requests.values()) == [1, 1, 1, 1]
