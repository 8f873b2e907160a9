"""Failed images are asked again by a re-run (online and batch; ``--no-retry-failed`` leaves them),
and a stage where more than ``max_failed_share`` of the images failed ends as failed, with the count."""

import pytest

from vlkd.core.errors import StageError
from vlkd.testing.teach import image_hashes, ledger, section

POLL = {"batch_poll_interval": 0.05}


def statuses(rd) -> dict[str, str]:
    return {e["key"]: e["status"] for e in ledger(rd)}


@pytest.mark.parametrize("fault", [["500"] * 3, ["malformed"] * 2])
def test_a_plain_rerun_asks_failed_images_again_online(provider, images, run_teach, fault):
    folder = images(6)
    h = list(image_hashes(folder).values())
    provider.image_faults[h[0]] = list(fault)  # no answer / an unreadable one, each time it is asked
    teach = section(provider, max_retries=2, parse_retries=1)
    manifest, rd = run_teach(folder, teach)
    assert manifest["stages"]["teach"]["counts"]["failed"] == 1  # 1 of 6: under max_failed_share
    assert manifest["stages"]["teach"]["status"] == "done"
    asked = provider.requests[h[0]]
    # --no-retry-failed: up to date, nothing asked
    manifest, rd = run_teach(folder, teach, retry_failed=False)
    assert provider.requests[h[0]] == asked and statuses(rd)[h[0]] == "failed"
    # a plain re-run asks it again (new tries, not the cached unreadable answers) and succeeds
    manifest, rd = run_teach(folder, teach)
    assert provider.requests[h[0]] > asked
    assert statuses(rd)[h[0]] == "ok" and manifest["stages"]["teach"]["counts"]["failed"] == 0
    assert sum(provider.requests[k] for k in h[1:]) == 5  # the others were not asked again


@pytest.mark.parametrize("how", [{}, {"fresh": True}])
def test_batch_items_that_ran_out_of_retries_are_asked_again(provider, images, run_teach, how):
    folder = images(5)
    h = list(image_hashes(folder).values())
    provider.image_faults[h[0]] = ["500", "500"]
    teach = section(provider, mode="batch", batch_retries=1, **POLL)
    manifest, rd = run_teach(folder, teach)
    assert statuses(rd)[h[0]] == "failed" and len(provider.batches) == 2  # the first and 1 retry
    manifest, rd = run_teach(folder, teach, **how)
    assert len(provider.batches) == 3 and statuses(rd)[h[0]] == "ok"  # asked again, answered
    assert [provider.requests[k] for k in h] == [1, 1, 1, 1, 1]  # errored tries are not counted
    assert manifest["stages"]["teach"]["counts"] == {"ok": 5, "skipped": 0, "failed": 0}


def test_a_stage_with_too_many_failed_images_fails_with_the_count(provider, images, run_teach):
    folder = images(6)
    for image in list(image_hashes(folder).values())[:2]:
        provider.image_faults[image] = ["malformed"] * 2  # unreadable, asked again, unreadable
    with pytest.raises(StageError, match=r"2 of 6 images failed \(33%, more than teach.max_failed_share 20%"):
        run_teach(folder, section(provider, parse_retries=1))
    # its pairs are kept, and a looser threshold accepts the run as it is (nothing asked again)
    asked = sum(provider.requests.values())
    manifest, _ = run_teach(
        folder, section(provider, parse_retries=1, max_failed_share=0.5), retry_failed=False
    )
    assert manifest["stages"]["teach"]["status"] == "done" and sum(provider.requests.values()) == asked
