"""Scenes: scene files, the per-round scene view, greetings, transcripts and `/scene`."""
