"""Data sets and their exact laws: each module draws its data set and knows its
true conditional density, so a model can be scored against the exact answer.

`inverted_sine`: David Ha's inverted sine (Bishop's toy problem, twice as wiggly).
`robot_arm`: Bishop's two-link robot arm (inverse kinematics: two elbows), with its exact
p(θ | x) by quadrature (import from `mdn_helpers.datasets.robot_arm`).
"""

from . import inverted_sine
from .inverted_sine import *  # noqa: F403 (the inverted sine's public names, listed once in its __all__)

__all__ = list(inverted_sine.__all__)
