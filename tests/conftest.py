"""Test-session settings."""

import torch

# These models are tiny: intra-op threads buy nothing and, on a shared 2-core
# machine, spin-waiting threads slowed training 50x when the other core was
# busy. One thread keeps the suite's time predictable.
torch.set_num_threads(1)
