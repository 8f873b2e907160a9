"""Students: models that the train stage fine-tunes, and the tiny offline one for smoke tests."""
