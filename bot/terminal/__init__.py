"""The terminal front end: `tavernkeep chat` over the same channel services as Discord."""
