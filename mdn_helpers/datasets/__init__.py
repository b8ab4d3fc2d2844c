"""Data sets and their exact laws: each module draws its data set and knows its
true conditional density, so a model can be scored against the exact answer.

`inverted_sine`: David Ha's inverted sine (Bishop's toy problem, twice as wiggly).
`robot_arm`: Bishop's two-link robot arm (inverse kinematics: two elbows), with its exact
p(θ | x) by quadrature (import from `mdn_helpers.datasets.robot_arm`).
"""

from .inverted_sine import (
    MAX_GRID,
    MAX_GRID_VALUES,
    QUANTILE_STEPS,
    Y_HIGH,
    Y_LOW,
    ExactLaw,
    InvertedSine,
    Splits,
    bayes_nll,
    inverted_sine_f,
    joint_sample,
    log_normaliser,
    make_splits,
    sample_inverted_sine,
    seeded_sample,
    true_conditional_density,
    true_conditional_mean,
    true_joint_log_density,
    true_log_density,
)

__all__ = [
    "MAX_GRID",
    "MAX_GRID_VALUES",
    "QUANTILE_STEPS",
    "Y_HIGH",
    "Y_LOW",
    "ExactLaw",
    "InvertedSine",
    "Splits",
    "bayes_nll",
    "inverted_sine_f",
    "joint_sample",
    "log_normaliser",
    "make_splits",
    "sample_inverted_sine",
    "seeded_sample",
    "true_conditional_density",
    "true_conditional_mean",
    "true_joint_log_density",
    "true_log_density",
]
