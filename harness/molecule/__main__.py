"""``python -m harness.molecule create|destroy``: what the driver's playbooks run."""

from __future__ import annotations

import sys

from harness.molecule.instances import main

sys.exit(main())
