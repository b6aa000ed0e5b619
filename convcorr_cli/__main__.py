"""`python -m convcorr_cli COMMAND ...` is `convcorr COMMAND ...`."""

import sys

from convcorr_cli.main import main

sys.exit(main())
