"""The simulated tru.ID (PhoneCheck, Coverage, signed callbacks): what it does is in docs/sandbox.md."""

from sandbox.simulators.truid.app import RESUME_PATH, TruIdSimulator, make_app
from sandbox.simulators.truid.config import Mode, Project, TruIdConfig

__all__ = ["RESUME_PATH", "Mode", "Project", "TruIdConfig", "TruIdSimulator", "make_app"]
