"""Server-wide settings a Manage Server member changes (`/config`)."""
