"""The vectorized host trainer: the firmware's training, bit for bit, at host speed.

The third way to run cimtrain's training (DESIGN.md): not the firmware on a board or a
virtual board, but the same integer algorithm in numpy, on the model's array
arithmetic, for full-MNIST epochs and parameter studies.  For the same seed, data and
options it ends with the same conductances, write counters, accumulators, ADC shifts and
predictions as firmware/train.py on the model (tests/test_trainer_bitexact.py).

    from cimtrain.trainer import Trainer, options
    python -m cimtrain.trainer --help          # `make train`
"""

from .loop import Trainer
from .options import OptionError, parse

__all__ = ["Trainer", "OptionError", "parse"]
