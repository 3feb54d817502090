"""The frozen baseline of the config hash (DESIGN.md, "Config hash").

:func:`qjax.config.config_hash` hashes a run's validated values that differ from these
(plus ``experiment`` and each group's option ``name``). A value equal to its baseline
entry leaves the hash alone, so:

- a key added later goes into :data:`ADDED` (never into :data:`BASELINE`) with the value
  that reproduces the behaviour from before the key existed; runs that keep that value
  keep their hash, and their checkpoints;
- a default changed later differs from its baseline entry here, so it changes the hash:
  an old run is never resumed under new semantics.

NEVER EDIT AN EXISTING ENTRY of :data:`BASELINE` or :data:`ADDED` (that changes the hash of
every run that sets the key to either value). :data:`BASELINE` is today's schema defaults,
printed once by ``scripts/print_config_baseline.py`` and frozen; its key set is also what
:func:`qjax.config.legacy_config_hash` (the hash before this baseline) knew about.
Keys per ``group.option`` (``globals``: top-level keys; fixed groups by their name), nested
settings dotted (``zne.noise_factors``); keys of :data:`qjax.config.HASH_EXCLUDED` are absent.
"""

__all__ = ["BASELINE", "ADDED"]

# fmt: off
BASELINE: dict[str, dict] = \
    {'ansatz.hea': {'entangler': 'chain',
                    'init': 'random',
                    'init_scale': 0.1,
                    'layers': 2,
                    'rotations': ['RY', 'RZ']},
     'ansatz.qaoa': {'init': 'ramp', 'init_scale': 0.1, 'p': 3, 'ramp_beta': 0.6, 'ramp_gamma': -0.6},
     'ansatz.reupload': {'encoding': 'RY',
                         'entangler': 'ring',
                         'init': 'random',
                         'init_scale': 0.5,
                         'layers': 3,
                         'logit_scale': 2.0,
                         'reupload': True,
                         'rotations': ['RY', 'RZ'],
                         'wires': None},
     'ansatz.ucc': {'init': 'zeros', 'init_scale': 0.1},
     'backend.ibm': {'channel': None,
                     'device': 'least_busy',
                     'instance': None,
                     'min_qubits': None,
                     'optimization_level': 1,
                     'seed_simulator': None,
                     'shots': 4096},
     'backend.ibm_fake': {'device': 'FakeManilaV2',
                          'min_qubits': None,
                          'optimization_level': 1,
                          'seed_simulator': None,
                          'shots': 4096},
     'backend.noisy_simulator': {'device': None,
                                 'method': 'auto',
                                 'noise.amplitude_damping': 0.0,
                                 'noise.depolarizing_1q': 0.0,
                                 'noise.depolarizing_2q': 0.0,
                                 'noise.gate_time_1q': 0.035,
                                 'noise.gate_time_2q': 0.3,
                                 'noise.phase_damping': 0.0,
                                 'noise.readout_error': 0.0,
                                 'noise.t1': None,
                                 'noise.t2': None,
                                 'optimization_level': 1,
                                 'seed_simulator': None,
                                 'shots': None,
                                 'trajectories': 256},
     'backend.remote': {'device': None,
                        'seed_simulator': None,
                        'shots': None,
                        'target': 'simulator',
                        'url': 'http://127.0.0.1:8765'},
     'backend.simulator': {'device': None, 'seed_simulator': None, 'shots': None},
     'globals': {'gradient': 'auto', 'precision': 'single', 'seed': 0},
     'mitigation.best': {'dd.sequence_type': 'XpXm',
                         'twirling.enable_gates': True,
                         'twirling.enable_measure': True,
                         'twirling.num_randomizations': None,
                         'twirling.shots_per_randomization': None,
                         'zne.amplifier': 'gate_folding',
                         'zne.extrapolator': 'exponential',
                         'zne.noise_factors': [1.0, 3.0, 5.0]},
     'mitigation.dd': {'dd.sequence_type': 'XpXm'},
     'mitigation.none': {},
     'mitigation.readout': {},
     'mitigation.twirling': {'twirling.enable_gates': True,
                             'twirling.enable_measure': True,
                             'twirling.num_randomizations': None,
                             'twirling.shots_per_randomization': None},
     'mitigation.zne': {'zne.amplifier': 'gate_folding',
                        'zne.extrapolator': 'exponential',
                        'zne.noise_factors': [1.0, 3.0, 5.0]},
     'optimizer.adam': {'b1': 0.9, 'b2': 0.999, 'eps': 1e-08, 'eps_root': 0.0, 'lr': 0.1, 'nesterov': False},
     'optimizer.adamw': {'b1': 0.9,
                         'b2': 0.999,
                         'eps': 1e-08,
                         'eps_root': 0.0,
                         'lr': 0.1,
                         'nesterov': False,
                         'weight_decay': 0.0001},
     'optimizer.rmsprop': {'bias_correction': False,
                           'centered': False,
                           'decay': 0.9,
                           'eps': 1e-08,
                           'eps_in_sqrt': True,
                           'initial_scale': 0.0,
                           'lr': 0.01,
                           'momentum': None,
                           'nesterov': False},
     'optimizer.sgd': {'lr': 0.1, 'momentum': None, 'nesterov': False},
     'problem.breast_cancer': {'pca': 4, 'seed': 0, 'test_size': 0.2},
     'problem.h2': {'basis': 'sto-3g', 'bond_length': 0.7414},
     'problem.iris': {'features': None, 'seed': 0, 'test_size': 0.2},
     'problem.lih': {'active_electrons': 2, 'active_orbitals': 3, 'basis': 'sto-3g', 'bond_length': 1.5949},
     'problem.maxcut': {'degree': 3, 'edges': None, 'graph_seed': 0, 'n': 10, 'samples': 1024},
     'problem.moons': {'n_samples': 200, 'noise': 0.2, 'seed': 0, 'test_size': 0.25},
     'problem.tfim': {'J': 1.0, 'h': 1.0, 'n': 6, 'periodic': False},
     'schedule.constant': {},
     'schedule.cosine': {'alpha': 0.0, 'decay_steps': None, 'exponent': 1.0},
     'schedule.exponential': {'decay_rate': 0.9,
                              'end_value': None,
                              'staircase': False,
                              'transition_begin': 0,
                              'transition_steps': 10},
     'schedule.warmup_cosine': {'decay_steps': None,
                                'end_value': 0.0,
                                'exponent': 1.0,
                                'init_value': 0.0,
                                'warmup_steps': None},
     'trainer': {'patience': 5, 'tol': 0.0}}
# fmt: on

#: Keys (and group options) added after BASELINE was frozen: ``"group.option": {"key": old-behaviour value}``,
#: one comment each saying when and why. Never edit an entry once it is here.
ADDED: dict[str, dict] = {
    # issue 19 (hardware-grade answers): Z2 tapering, off before it existed; `auto` resolves to false off hardware
    **{f"problem.{p}": {"taper": False} for p in ("h2", "lih", "tfim", "maxcut", "iris", "moons", "breast_cancer")},
    # issue 19: the final evaluation's target precision; null = the training shots, as before
    **{
        f"backend.{b}": {"final_precision": None} for b in ("simulator", "noisy_simulator", "ibm_fake", "ibm", "remote")
    },
    # issue 19: `best` adds reference-state mitigation where there is a reference; false = best as before
    "mitigation.best": {"rem": False},
    # issue 19 (LiH on hardware): UCC's circuit form; excitations = the UCC singles and doubles, as before
    "ansatz.ucc": {"form": "excitations", "reps": 2},
    # issue 19 (LiH on hardware): REM's model; shift = the reference's error subtracted, as before
    **{f"mitigation.{m}": {"rem_model": "shift"} for m in ("rem", "readout_rem")},
}
