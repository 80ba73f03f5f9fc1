"""The Discord-facing services: plain Python the cogs call, with no Discord types."""
