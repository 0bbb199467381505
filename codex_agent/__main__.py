from codex_agent.cli import main

main()
