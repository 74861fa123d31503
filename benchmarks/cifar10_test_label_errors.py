"""The 54 CIFAR-10 test-set label errors validated by Mechanical Turk workers.

Northcutt, Athalye & Mueller (2021), "Pervasive Label Errors in Test Sets Destabilize ML
Benchmarks": confident learning flagged candidate errors in the CIFAR-10 test set, five workers
reviewed each, and 54 were confirmed. Rebuilt from the authors' released review file
(cleanlab/label-errors, ``mturk/cifar10_mturk.json``, Apache-2.0): the candidates where fewer than
3 of 5 workers chose the given label. That rule gives exactly 54, the published count, and each
id's original label matches ``cifar10_test_original_labels.npy`` of the shared data.
"""

ERROR_IDS: tuple[int, ...] = (
    165,
    792,
    882,
    1227,
    1300,
    1684,
    1718,
    1969,
    2010,
    2128,
    2232,
    2405,
    2532,
    2592,
    2804,
    2840,
    2940,
    3113,
    3168,
    3183,
    3192,
    3490,
    3600,
    3753,
    3977,
    4055,
    4198,
    4614,
    4643,
    4794,
    4910,
    4965,
    5166,
    5191,
    5211,
    5468,
    5632,
    5690,
    5882,
    5960,
    6522,
    6792,
    6877,
    6966,
    7311,
    7657,
    7846,
    8058,
    8296,
    8620,
    9227,
    9352,
    9643,
    9793,
)
assert len(ERROR_IDS) == 54
