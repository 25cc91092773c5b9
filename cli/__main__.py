import sys

from slm_wizard.cli.main import entry

sys.exit(entry())
