"""The desktop app: displays state and dispatches work to explorer.core on worker threads."""
