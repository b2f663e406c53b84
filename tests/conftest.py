"""Settings every test shares.

The hidden-case key comes from the environment here, so that no test writes a key into the home folder of
whoever runs the suite; tests of the key file itself (tests/test_keys.py) unset it.
"""

import os

TEST_KEY = "tests-only-hidden-key-not-a-secret"
os.environ.setdefault("CONV1D_HIDDEN_KEY", TEST_KEY)
