"""Stage 6, render: what people read, in their language (strings), in the terminal (terminal)
and as self-contained HTML pages (html, templates/)."""
