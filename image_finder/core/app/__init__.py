"""The application layer: what the window, the command line and the server do with the core,
written once. A face asks it to load models (``models``), turns a request into search options
(``options``), puts store errors into words (``errors``) and runs long jobs (``jobs``); the face
itself only shows what comes back (docs/architecture.md)."""
