"""`python -m vaegan`: the `vaegan` command line; its exit status is the process's."""

import sys

from vaegan.cli import main

sys.exit(main())
