"""Characters: sheets, cards and the `/character` and `/npc` service."""
