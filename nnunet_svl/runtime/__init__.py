"""What training imports: the typed config, errors, the label store, DDP synchronisation, atomic I/O, fault-injection
points and the progress plot. Nothing here (nor in ``nnunet_svl.trainers``, ``nnunet_svl.parts``, ``nnunet_svl.dale``,
``nnunet_svl.rl``) imports ``nnunet_svl.tools``: the command-line tools build on training, never the other way round
(checked by ``tests/test_layout.py``)."""
