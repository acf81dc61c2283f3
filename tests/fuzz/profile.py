"""Settings of the hostile-input fuzz.

``make test`` runs a bounded, fixed-seed fuzz (the same examples every run: CI never
flakes on a new example); ``make fuzz`` runs many more with a random seed, printed so that
``pytest tests/fuzz --hypothesis-seed=<seed>`` replays a run.
"""
import os

from hypothesis import HealthCheck, Phase, settings

# No shrinking: every example talks to live servers, and a shrink of a batch that made a
# server hang would take hours; the failing batch is printed whole instead.
_COMMON = dict(deadline=None, database=None, print_blob=True,
               phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "600")), derandomize=False,
                          **_COMMON)
settings.load_profile(os.environ.get("FUZZ_PROFILE", "ci"))
