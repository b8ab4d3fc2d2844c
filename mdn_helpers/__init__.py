"""mdn_helpers: the tested code behind the mdn-notebooks tutorials.

Mixture density networks (and a Lipschitz-critic GAN) on David Ha's inverted
sine, with the exact conditional density to score them against.
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .data import (
    InvertedSine,
    Splits,
    bayes_nll,
    inverted_sine_f,
    make_splits,
    sample_inverted_sine,
    seeded_sample,
    true_conditional_density,
    true_log_density,
)
from .mdn import MDN, GaussianMixture1d, MDNEnsemble, MixtureParams
from .metrics import energy_distance, energy_noise_floor, mdn_energy_distance
from .train import History, TrainingDiverged, fit_mdn, fit_mdn_ensemble, heldout_nll
from .slogan import (Critic, CriticTerms, Generator, SloganDiverged, SloganHistory, SloganRecipe,
                     slogan_critic_loss, slogan_critic_terms, slogan_energy, slogan_generator_loss, train_slogan)

__all__ = [
    "GaussianMixture1d", "History", "InvertedSine", "MDN", "MDNEnsemble", "MixtureParams", "Splits",
    "TrainingDiverged", "bayes_nll", "energy_distance", "energy_noise_floor", "fit_mdn", "fit_mdn_ensemble",
    "heldout_nll", "inverted_sine_f", "load_checkpoint", "make_splits", "mdn_energy_distance",
    "sample_inverted_sine", "save_checkpoint", "seeded_sample", "true_conditional_density", "true_log_density",
    "Critic", "CriticTerms", "Generator", "SloganDiverged", "SloganHistory", "SloganRecipe", "slogan_critic_loss",
    "slogan_critic_terms", "slogan_energy", "slogan_generator_loss", "train_slogan",
]
__version__ = "0.1.0"
