import os

from hypothesis import HealthCheck, settings

# ci: reproducible (derandomize: the examples are a fixed function of the test), fast
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # the suite never reads or writes the user's result cache
    import tempfile
    os.environ["LDV_CACHE_DIR"] = tempfile.mkdtemp(prefix="ldv-test-cache-")
