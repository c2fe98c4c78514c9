"""Not imported as a package: this directory is put on an evaluator's sys.path
(see evoforge.compat.SHIMS_DIR).  The file only makes packaging include it."""
