"""Chat-ops: slash commands from Slack and Mattermost. Who may do what (the grants file), what a
command says (its parser), what pushgate answers (Block Kit or Mattermost text), and the replay
guard of signed requests. No Flask or Celery in here: api/chatops.py serves the commands and the
webhook dispatcher delivers their updates."""
