"""Test settings: the panel's own settings, with a data folder of this test run's own.

Each run gets a fresh folder, so two runs on one machine never share a database file,
a queue or vault keys.
"""

import atexit
import os
import shutil
import tempfile

if "MAILPANEL_DATA_DIR" not in os.environ:
    _run_dir = tempfile.mkdtemp(prefix="mailpanel-test-")
    atexit.register(shutil.rmtree, _run_dir, True)
    os.environ["MAILPANEL_DATA_DIR"] = _run_dir

from mailpanel.settings import *  # noqa: F403

# Tests reach only loopback: an unset peer points at the discard port, which refuses.
_NOWHERE = "http://127.0.0.1:9"
DNS_API_URLS = {name: _NOWHERE for name in DNS_API_URLS}  # noqa: F405
NVIDIA_API_URL = _NOWHERE
DNS_RESOLVERS = ["127.0.0.1"]  # tests that resolve point at the lab DNS explicitly
DNS_RESOLVER_PORT = 9
# Servers the tests add live in the lab's own network (lab/netlab.py SUBNET) or in the
# documentation ranges; private ranges beyond the lab's, loopback and metadata stay refused.
SERVER_NETWORKS_ALLOWED = ["10.200.0.0/24"]
