import sys

from codex_agent.keeper.main import main

sys.exit(main(sys.argv))
