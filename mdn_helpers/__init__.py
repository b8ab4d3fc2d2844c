"""mdn_helpers: the tested code behind the mdn-notebooks tutorials.

Mixture density networks (and a Lipschitz-critic GAN) on David Ha's inverted
sine, with the exact conditional density to score them against.
"""

from importlib import metadata as _metadata

from .baselines import LinearGaussian, fit_linear_gaussian
from .calibration import scorecard, scorecard_table
from .checkpoint import load_checkpoint, save_checkpoint
from .data import (
    ExactLaw,
    InvertedSine,
    Splits,
    bayes_nll,
    inverted_sine_f,
    make_splits,
    sample_inverted_sine,
    seeded_sample,
    true_conditional_density,
    true_joint_log_density,
    true_log_density,
)
from .loop import History, TrainingDiverged, derive_seed
from .mdn import MDN, GaussianMixture1d, MDNEnsemble
from .metrics import (
    energy_distance,
    energy_noise_floor,
    heldout_nll,
    low_density_share,
    mdn_energy_distance,
    mdn_joint_sample,
    slogan_energy,
)
from .mixture import ConditionalLaw, Mixture
from .recipes import Recipe
from .slogan import Critic, CriticTerms, SloganGenerator, slogan_critic_loss, slogan_critic_terms, slogan_generator_loss
from .slogan_train import SloganRecipe, train_slogan
from .train import MDNRecipe, fit_mdn, fit_mdn_ensemble, fit_mean_regression

__all__ = [
    "MDN",
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
    "heldout_nll",
    "inverted_sine_f",
    "load_checkpoint",
    "low_density_share",
    "make_splits",
    "mdn_energy_distance",
    "mdn_joint_sample",
    "sample_inverted_sine",
    "save_checkpoint",
    "scorecard",
    "scorecard_table",
    "seeded_sample",
    "slogan_critic_loss",
    "slogan_critic_terms",
    "slogan_energy",
    "slogan_generator_loss",
    "train_slogan",
    "true_conditional_density",
    "true_joint_log_density",
    "true_log_density",
]
try:
    __version__ = _metadata.version("mdn-helpers")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
