import sys

from slm_wizard.cli.main import main

sys.exit(main())
