import sys

from vaegan.cli import main

sys.exit(main())
