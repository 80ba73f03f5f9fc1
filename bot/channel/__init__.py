"""The channel runtime: sessions and rounds, intake, publishing, recovery, turn actions.

Plain Python with no Discord types; every front end (the cogs, the terminal) calls it.
"""
