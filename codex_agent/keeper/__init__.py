"""One keeper per job: the process in the job's tmux pane that runs the agent and is the only writer of the
job's state for the job's whole life (see keeper/main.py)."""
