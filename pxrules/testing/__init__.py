"""For users' own tests: a PxServ simulator on a real local port (Socket.IO + REST)."""

from .simulator import Simulator

__all__ = ["Simulator"]
