"""AlexNet over several processes with ``torch.distributed``: the 2012 model split and today's data parallelism.

* :mod:`~classicnets.distributed.launch` — start a group of ranks (spawn or
  ``torchrun``), with a timeout, and fail with the failing rank's error;
* :mod:`~classicnets.distributed.split` — the paper's two-GPU split as two
  processes (:class:`~classicnets.distributed.split.HalfAlexNet`);
* :mod:`~classicnets.distributed.data_parallel` — ``DistributedDataParallel``:
  the equality check and a short timed Fashion-MNIST run.

``python -m classicnets.distributed --help`` lists the command-line entry
points (run them under ``torchrun``).
"""
