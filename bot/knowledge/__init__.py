"""Who saw what: whispers, tells, presence, and the marks a GM reads them by.

`rules` checks what people type, `wording` holds everything a person reads, `marks` labels
whispers and tells for a GM's eyes, and `service.py` is `/whisper`, `/npc tell`,
`/scene who`, `/scene leave` and `/scene enter` over them.
"""

from .marks import SecretMarks
from .rules import KnowledgeError

__all__ = ["KnowledgeError", "SecretMarks"]
