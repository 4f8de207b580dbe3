import sys

from verirl_app import main

sys.exit(main())
