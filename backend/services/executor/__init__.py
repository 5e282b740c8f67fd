"""Running scripts. Kept import-light: the per-run supervisor imports ``logfile`` from here without Flask."""
