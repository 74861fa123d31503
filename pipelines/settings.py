"""The resource every asset uses to find its data root."""

from pathlib import Path

import dagster as dg

from ops.paths import DatasetPaths, data_root


class SieveSettings(dg.ConfigurableResource):
    """Where Sieve reads and writes.

    ``data_dir`` empty means ``$SIEVE_DATA_DIR`` at run time, else ``data/``.
    """

    data_dir: str = ""

    def root(self) -> Path:
        return data_root(self.data_dir or None)

    def dataset(self, kind: str, name: str) -> DatasetPaths:
        return DatasetPaths(self.root(), kind, name)
