"""mdn_helpers: the tested code behind the mdn-notebooks tutorials.

Mixture density networks (and a Lipschitz-critic GAN) on David Ha's inverted
sine, with the exact conditional density to score them against.

`__all__` is the public API the notebooks use. The figures are in the
submodules `plots` (drawing) and `grids` (the values on grids they draw), the
data sets in `datasets`, the recipes' presets in `train` and `slogan_train`,
the quoted benchmark figures in `records`, the live explorer in `widgets`
(it needs the `notebooks` extra); each has its own `__all__`.
"""

from importlib import metadata as _metadata

from .baselines import LinearGaussian, fit_linear_gaussian
from .calibration import scorecard, scorecard_table, x_bins
from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import (
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
from .loop import History, TrainingDiverged
from .mdn import LOG_SIGMA_BOUND, MDN, GaussianMixture1d, MDNEnsemble
from .metrics import (
    energy_distance,
    energy_noise_floor,
    heldout_nll,
    low_density_share,
    mdn_energy_distance,
    mdn_joint_sample,
    nll_gap_by_x,
    slogan_energy_distance,
)
from .mixture import Z_LIMIT, ConditionalLaw, Mixture
from .recipes import Recipe
from .seeding import derive_seed, seeded_init
from .slogan import Critic, CriticTerms, SloganGenerator, slogan_critic_loss, slogan_critic_terms, slogan_generator_loss
from .slogan_train import SloganRecipe, fit_slogan
from .train import MDNRecipe, fit_mdn, fit_mdn_ensemble, fit_mean_regression

__all__ = [
    "LOG_SIGMA_BOUND",
    "MDN",
    "Z_LIMIT",
    "ConditionalLaw",
    "Critic",
    "CriticTerms",
    "ExactLaw",
    "GaussianMixture1d",
    "History",
    "InvertedSine",
    "LinearGaussian",
    "MDNEnsemble",
    "MDNRecipe",
    "Mixture",
    "Recipe",
    "SloganGenerator",
    "SloganRecipe",
    "Splits",
    "TrainingDiverged",
    "bayes_nll",
    "derive_seed",
    "energy_distance",
    "energy_noise_floor",
    "fit_linear_gaussian",
    "fit_mdn",
    "fit_mdn_ensemble",
    "fit_mean_regression",
    "fit_slogan",
    "heldout_nll",
    "inverted_sine_f",
    "joint_sample",
    "load_checkpoint",
    "log_normaliser",
    "low_density_share",
    "make_splits",
    "mdn_energy_distance",
    "mdn_joint_sample",
    "nll_gap_by_x",
    "sample_inverted_sine",
    "save_checkpoint",
    "scorecard",
    "scorecard_table",
    "seeded_init",
    "seeded_sample",
    "slogan_critic_loss",
    "slogan_critic_terms",
    "slogan_energy_distance",
    "slogan_generator_loss",
    "true_conditional_density",
    "true_conditional_mean",
    "true_joint_log_density",
    "true_log_density",
    "x_bins",
]
try:
    __version__ = _metadata.version("mdn-helpers")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
