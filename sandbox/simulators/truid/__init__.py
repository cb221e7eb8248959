"""The simulated tru.ID (PhoneCheck, Coverage, signed callbacks): what it does is in app.py's docstring."""

from sandbox.simulators.truid.app import Mode, Project, TruIdConfig, TruIdSimulator, make_app

__all__ = ["Mode", "Project", "TruIdConfig", "TruIdSimulator", "make_app"]
