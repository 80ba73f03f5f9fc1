"""Campaign recall: the old turns and chapters of a speaker's view that match what is said now."""
