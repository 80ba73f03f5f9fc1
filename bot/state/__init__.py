"""Tracked state: per-scene values of each character (HP, gold, inventories) and `/stat`."""
