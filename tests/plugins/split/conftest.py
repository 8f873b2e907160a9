from vlkd.testing.fake_run import fake_run  # noqa: F401 - the fixture
